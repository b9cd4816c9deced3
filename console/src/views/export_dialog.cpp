#include "views/export_dialog.h"

#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QStandardPaths>
#include <QVBoxLayout>

namespace vigil::console {

ExportDialog::ExportDialog(GatewayClient& client, QWidget* parent)
    : QDialog(parent),
      export_(client),
      from_(new QDateTimeEdit(QDateTime::currentDateTime().addDays(-7))),
      to_(new QDateTimeEdit(QDateTime::currentDateTime().addSecs(60))),
      subject_(new QLineEdit),
      decision_(new QComboBox),
      destination_(new QLineEdit(QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation))),
      browse_(new QPushButton(tr("&Browse…"))),
      progress_(new QProgressBar),
      status_(new QLabel),
      exportButton_(new QPushButton(tr("&Export"))),
      cancel_(new QPushButton(tr("Cancel"))) {
    setObjectName(QStringLiteral("exportDialog"));
    setWindowTitle(tr("Export evidence"));
    from_->setObjectName(QStringLiteral("fromDateTimeEdit"));
    to_->setObjectName(QStringLiteral("toDateTimeEdit"));
    subject_->setObjectName(QStringLiteral("exportSubjectLineEdit"));
    decision_->setObjectName(QStringLiteral("exportDecisionComboBox"));
    destination_->setObjectName(QStringLiteral("destinationLineEdit"));
    browse_->setObjectName(QStringLiteral("browseDestinationButton"));
    progress_->setObjectName(QStringLiteral("exportProgressBar"));
    status_->setObjectName(QStringLiteral("exportStatusLabel"));
    exportButton_->setObjectName(QStringLiteral("exportButton"));
    cancel_->setObjectName(QStringLiteral("cancelExportButton"));
    for (auto* edit : {from_, to_}) {
        edit->setCalendarPopup(true);
        edit->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm"));
    }
    subject_->setPlaceholderText(tr("any subject"));
    decision_->addItem(tr("Any decision"), QString());
    decision_->addItem(QStringLiteral("allow"), QStringLiteral("allow"));
    decision_->addItem(QStringLiteral("review"), QStringLiteral("review"));
    decision_->addItem(QStringLiteral("deny"), QStringLiteral("deny"));
    progress_->setRange(0, 100);
    progress_->setValue(0);
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* form = new QFormLayout;
    form->addRow(tr("From:"), from_);
    form->addRow(tr("To:"), to_);
    form->addRow(tr("Subject:"), subject_);
    form->addRow(tr("Decision:"), decision_);
    auto* where = new QHBoxLayout;
    where->addWidget(destination_, 1);
    where->addWidget(browse_);
    form->addRow(tr("Save in:"), where);
    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    buttons->addWidget(cancel_);
    buttons->addWidget(exportButton_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(progress_);
    layout->addWidget(status_);
    layout->addLayout(buttons);
    exportButton_->setDefault(true);
    resize(560, 320);

    connect(browse_, &QPushButton::clicked, this, [this] {
        const auto dir = QFileDialog::getExistingDirectory(this, tr("Save the evidence in"), destination_->text());
        if (!dir.isEmpty()) destination_->setText(dir);
    });
    connect(exportButton_, &QPushButton::clicked, this, &ExportDialog::start);
    connect(cancel_, &QPushButton::clicked, this, [this] {
        if (export_.running()) {
            export_.cancel();
        } else {
            reject();
        }
    });
    connect(&export_, &EvidenceExport::progress, this, [this](qint64 received, qint64 total) {
        if (total > 0) {
            progress_->setRange(0, 100);
            progress_->setValue(static_cast<int>(received * 100 / total));
        } else {
            progress_->setRange(0, 0);  // busy: the gateway is still making the bundle
        }
        status_->setText(tr("Receiving the bundle: %1 KB").arg(received / 1024));
    });
    connect(&export_, &EvidenceExport::finished, this, [this](const QString& dir, const QString& zip, const QString& report) {
        setBusy(false);
        progress_->setRange(0, 100);
        progress_->setValue(100);
        lastReport_ = report;
        lastZip_ = zip;
        status_->setText(tr("Saved the signed bundle %1 (and its files in %2) and the report %3. "
                            "Check it with: vigil verify-bundle %1 --pubkey KEY")
                             .arg(QDir::toNativeSeparators(zip), QDir::toNativeSeparators(dir), QDir::toNativeSeparators(report)));
    });
    connect(&export_, &EvidenceExport::failed, this, [this](const QString& why) {
        setBusy(false);
        progress_->setRange(0, 100);
        progress_->setValue(0);
        status_->setText(tr("Not exported: %1").arg(why));
    });
}

void ExportDialog::start() {
    if (from_->dateTime() >= to_->dateTime()) {
        status_->setText(tr("'From' must be before 'To'."));
        return;
    }
    if (destination_->text().trimmed().isEmpty()) {
        status_->setText(tr("Choose where to save the evidence."));
        return;
    }
    setBusy(true);
    progress_->setRange(0, 0);
    status_->setText(tr("The gateway is making the bundle…"));
    EvidenceExport::Request request;
    request.from = from_->dateTime();
    request.to = to_->dateTime();
    request.subject = subject_->text();
    request.decision = decision_->currentData().toString();
    request.destination = destination_->text().trimmed();
    export_.start(request);
}

void ExportDialog::setBusy(bool busy) {
    exportButton_->setEnabled(!busy);
    for (QWidget* w : {static_cast<QWidget*>(from_), static_cast<QWidget*>(to_), static_cast<QWidget*>(subject_),
                       static_cast<QWidget*>(decision_), static_cast<QWidget*>(destination_), static_cast<QWidget*>(browse_)}) {
        w->setEnabled(!busy);
    }
    cancel_->setText(busy ? tr("Cancel export") : tr("Close"));
}

}  // namespace vigil::console
