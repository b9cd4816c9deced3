#pragma once

#include <QComboBox>
#include <QDateTimeEdit>
#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>

#include "export/evidence_export.h"

namespace vigil::console {

class GatewayClient;

// Export evidence: a period and filters, a destination, a progress bar with Cancel. Saves
// the signed bundle (its ZIP and its files) and a PDF report beside them.
class ExportDialog : public QDialog {
    Q_OBJECT
public:
    ExportDialog(GatewayClient& client, QWidget* parent = nullptr);
    EvidenceExport& exporter() { return export_; }
    QString lastReport() const { return lastReport_; }
    QString lastZip() const { return lastZip_; }

private:
    void start();
    void setBusy(bool busy);

    EvidenceExport export_;
    QDateTimeEdit* from_;
    QDateTimeEdit* to_;
    QLineEdit* subject_;
    QComboBox* decision_;
    QLineEdit* destination_;
    QPushButton* browse_;
    QProgressBar* progress_;
    QLabel* status_;
    QPushButton* exportButton_;
    QPushButton* cancel_;
    QString lastReport_;
    QString lastZip_;
};

}  // namespace vigil::console
