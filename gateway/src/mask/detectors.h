#pragma once

#include <bitset>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::mask {

// One kind of sensitive value. A detector is a few Vectorscan expressions that find
// candidates (leftmost start, every possible end) and a validator that decides, with the
// text around the candidate, whether it is real (Luhn, mod-97, value ranges...) and where
// exactly the value lies (a bearer token without the word "Bearer").
struct Detector {
    // Checks the candidate [begin, end) of `text`; may narrow it to the value itself.
    using Validator = bool (*)(std::string_view text, std::size_t& begin, std::size_t& end);
    // The canonical form of a value for the hash operator (e.g. a card number without
    // separators), so that the same value gives the same token however it was written.
    using Normalizer = std::string (*)(std::string_view value);

    std::string entity;  // CREDIT_CARD: the entity type, reported and used in [CREDIT_CARD]
    std::vector<std::string> expressions;
    bool caseless = false;
    Validator validate = nullptr;  // null: every candidate is real
    Normalizer normalize = nullptr;  // null: the value as written

    // For streams (stream_masker.h): a value that may still grow at the end of the text
    // received so far consists of these bytes only and is at most `holdWidth` long, so
    // holding back the trailing run of these bytes (at most holdWidth) is enough.
    std::bitset<256> holdAlphabet;
    std::size_t holdWidth = 0;
};

// The built-in detectors, in priority order (the first wins between equal spans).
// Names in profiles: credit_card, us_ssn, iban, email, phone, ip_address,
// cloud_access_key, private_key, jwt, bearer_token, credential; "secrets" names the last five.
const std::vector<Detector>& builtinDetectors();

// The built-in detector a profile names ("credit_card" -> CREDIT_CARD); empty when unknown.
std::vector<std::string> builtinEntitiesFor(std::string_view profileName);
std::vector<std::string> builtinProfileNames();

// Checks used by the validators, exposed for tests.
bool luhnValid(std::string_view digits);
bool cardIssuerKnown(std::string_view digits);
bool ibanValid(std::string_view compact);  // without spaces, upper case
bool ssnValid(std::string_view area, std::string_view group, std::string_view serial);

}  // namespace vigil::mask
