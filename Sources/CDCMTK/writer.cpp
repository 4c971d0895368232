// DICOM writing through DCMTK behind a plain C surface (see include/CDCMTKWriter.h).
// Every DCMTK status is turned into a return code plus a sentence; no exception leaves.
#include "CDCMTKWriter.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/dcmjpls/djrparam.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace {

std::once_flag encodersOnce;

/// Registers the lossless encoders once per process (DCMTK keeps a global codec list).
void registerEncoders() {
    std::call_once(encodersOnce, [] {
        DJEncoderRegistration::registerCodecs();
        DJLSEncoderRegistration::registerCodecs();
        DcmRLEEncoderRegistration::registerCodecs();
    });
}

void setError(char *err, size_t len, const std::string &msg) {
    if (err && len > 0) std::snprintf(err, len, "%s", msg.c_str());
}

std::string joinDoubles(const double *v, int n) {
    std::string out;
    char buf[32];
    for (int i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, "%.6g", v[i]);
        if (i) out += "\\";
        out += buf;
    }
    return out;
}

/// Zeroes the pad byte after a JPEG end-of-image marker (FF D9) in every fragment. DCMTK 3.6.7's
/// JPEG-LS encoder leaves that byte (added to make the fragment length even) uninitialised, so
/// the same image would otherwise encode to different bytes from run to run.
void zeroFragmentPadding(DcmDataset *ds, E_TransferSyntax xfer) {
    DcmElement *elem = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, elem).bad() || elem == nullptr) return;
    DcmPixelSequence *seq = nullptr;
    if (OFstatic_cast(DcmPixelData *, elem)->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || seq == nullptr) return;
    for (unsigned long i = 1; i < seq->card(); ++i) {
        DcmPixelItem *item = nullptr;
        Uint8 *bytes = nullptr;
        if (seq->getItem(item, i).bad() || item == nullptr || item->getUint8Array(bytes).bad() || bytes == nullptr) continue;
        Uint32 len = item->getLength();
        if (len >= 3 && bytes[len - 3] == 0xFF && bytes[len - 2] == 0xD9) bytes[len - 1] = 0;
    }
}

/// Sets one string attribute; the caller's temporaries live until this call returns.
int put(DcmDataset *ds, const DcmTagKey &tag, const char *value, const char *name, char *err, size_t err_len) {
    OFCondition c = ds->putAndInsertString(tag, value ? value : "");
    if (c.bad()) {
        setError(err, err_len, std::string("cannot set ") + name + ": " + c.text());
        return 2;
    }
    return 0;
}

#define PUT(tag, value) \
    if (int r_ = put(ds, (tag), (value), #tag, err, err_len)) return r_

int writeSlice(const char *path, const segvol_dcm_slice *s, const uint16_t *pixels, char *err, size_t err_len) {
    if (!path || !s || !pixels || s->rows <= 0 || s->columns <= 0) {
        setError(err, err_len, "invalid slice description (missing path, pixels or size)");
        return 1;
    }
    registerEncoders();
    DcmFileFormat file;
    DcmDataset *ds = file.getDataset();
    const bool ct = s->modality && std::strcmp(s->modality, "CT") == 0;
    char uid[100];
    std::string sop = s->sop_instance_uid ? s->sop_instance_uid : dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);

    PUT(DCM_SOPClassUID, ct ? UID_CTImageStorage : UID_MRImageStorage);
    PUT(DCM_SOPInstanceUID, sop.c_str());
    PUT(DCM_Modality, ct ? "CT" : "MR");
    PUT(DCM_StudyInstanceUID, s->study_uid);
    PUT(DCM_SeriesInstanceUID, s->series_uid);
    PUT(DCM_FrameOfReferenceUID, s->frame_of_reference_uid);
    PUT(DCM_PatientID, s->patient_id);
    PUT(DCM_PatientName, s->patient_name);
    PUT(DCM_StudyDate, s->study_date);
    PUT(DCM_SeriesDescription, s->series_description);
    PUT(DCM_BodyPartExamined, s->body_part);
    PUT(DCM_Manufacturer, s->manufacturer);
    PUT(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
    PUT(DCM_SeriesNumber, std::to_string(s->series_number).c_str());
    PUT(DCM_InstanceNumber, std::to_string(s->instance_number).c_str());
    PUT(DCM_PixelSpacing, joinDoubles(s->pixel_spacing, 2).c_str());
    PUT(DCM_SliceThickness, joinDoubles(&s->slice_thickness, 1).c_str());
    PUT(DCM_ImagePositionPatient, joinDoubles(s->position, 3).c_str());
    PUT(DCM_ImageOrientationPatient, joinDoubles(s->orientation, 6).c_str());
    PUT(DCM_RescaleSlope, joinDoubles(&s->rescale_slope, 1).c_str());
    PUT(DCM_RescaleIntercept, joinDoubles(&s->rescale_intercept, 1).c_str());
    PUT(DCM_PhotometricInterpretation, "MONOCHROME2");

    OFCondition c = ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
    if (c.good()) c = ds->putAndInsertUint16(DCM_Rows, (Uint16)s->rows);
    if (c.good()) c = ds->putAndInsertUint16(DCM_Columns, (Uint16)s->columns);
    if (c.good()) c = ds->putAndInsertUint16(DCM_BitsAllocated, 16);
    if (c.good()) c = ds->putAndInsertUint16(DCM_BitsStored, 16);
    if (c.good()) c = ds->putAndInsertUint16(DCM_HighBit, 15);
    if (c.good()) c = ds->putAndInsertUint16(DCM_PixelRepresentation, s->pixel_signed ? 1 : 0);
    const unsigned long count = (unsigned long)s->rows * (unsigned long)s->columns;
    if (c.good()) c = ds->putAndInsertUint16Array(DCM_PixelData, pixels, count);
    if (c.bad()) { setError(err, err_len, std::string("cannot set pixel attributes: ") + c.text()); return 2; }

    E_TransferSyntax xfer = EXS_LittleEndianExplicit;
    if (s->transfer_syntax && *s->transfer_syntax) {
        xfer = DcmXfer(s->transfer_syntax).getXfer();
        if (xfer == EXS_Unknown) {
            setError(err, err_len, std::string("unknown transfer syntax UID ") + s->transfer_syntax);
            return 3;
        }
    }
    if (xfer != EXS_LittleEndianExplicit && xfer != EXS_LittleEndianImplicit && xfer != EXS_BigEndianExplicit &&
        xfer != EXS_DeflatedLittleEndianExplicit) {
        c = ds->chooseRepresentation(xfer, nullptr);
        if (c.bad() || !ds->canWriteXfer(xfer)) {
            setError(err, err_len, std::string("no encoder for transfer syntax ") + s->transfer_syntax +
                                       (c.bad() ? std::string(": ") + c.text() : std::string()));
            return 3;
        }
        zeroFragmentPadding(ds, xfer);
    }
    c = file.saveFile(path, xfer);
    if (c.bad()) { setError(err, err_len, std::string("cannot write DICOM file: ") + c.text()); return 4; }
    return 0;
}

}  // namespace

extern "C" int segvol_dcm_write_slice(const char *path, const segvol_dcm_slice *s, const uint16_t *pixels,
                                      char *err, size_t err_len) {
    try {
        return writeSlice(path, s, pixels, err, err_len);
    } catch (const std::exception &e) {
        setError(err, err_len, std::string("DCMTK raised: ") + e.what());
    } catch (...) {
        setError(err, err_len, "DCMTK raised an unknown exception");
    }
    return 9;
}

extern "C" void segvol_dcm_new_uid(char *out, size_t len) {
    char uid[100];
    dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
    if (out && len > 0) std::snprintf(out, len, "%s", uid);
}
