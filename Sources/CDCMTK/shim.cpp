// DCMTK side of the CDCMTK shim: file loading, attribute access and frame decoding.
// Nothing thrown or returned by DCMTK crosses into C: every entry point catches all exceptions
// and converts OFCondition into a SEGVOL_DCM_* status plus a message.
#include "CDCMTK.h"
#include "j2k.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

struct segvol_dcm {
    DcmFileFormat format;
    /// DCMTK finds a frame's first fragment cheaply only when told where the previous frame
    /// ended (offset tables may be empty): remember it for sequential decoding.
    Uint32 nextFrame = 0;
    Uint32 nextFragment = 0;
};

namespace {

/// Registers the decoders once per process and silences DCMTK's own stderr logging
/// (the library must not write to the daemon's stderr; callers get messages instead).
void setUpOnce() {
    static std::once_flag once;
    std::call_once(once, [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
    });
}

void copyMessage(const std::string &text, char *msg, size_t msglen) {
    if (msg == nullptr || msglen == 0) return;
    std::strncpy(msg, text.c_str(), msglen - 1);
    msg[msglen - 1] = '\0';
}

DcmTagKey key(uint32_t tag) { return DcmTagKey(Uint16(tag >> 16), Uint16(tag & 0xFFFF)); }

/// Follows `depth - 1` sequence steps from the dataset; NULL when a step is missing.
DcmItem *walk(segvol_dcm *file, const uint32_t *tags, const uint32_t *items, size_t depth) {
    DcmItem *item = file->format.getDataset();
    for (size_t i = 0; i + 1 < depth && item != nullptr; ++i) {
        DcmItem *next = nullptr;
        if (item->findAndGetSequenceItem(key(tags[i]), next, int(items[i])).bad()) return nullptr;
        item = next;
    }
    return item;
}

bool isJPEG2000(E_TransferSyntax xfer) {
    DcmXfer x(xfer);
    std::string uid = x.getXferID();
    return uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91" ||
           uid == "1.2.840.10008.1.2.4.201" || uid == "1.2.840.10008.1.2.4.202" ||
           uid == "1.2.840.10008.1.2.4.203";
}

/// The codestream of one frame: all fragments when there is one frame, otherwise the
/// fragments grouped by J2K start-of-codestream (FF4F FF51) or JP2 signature markers.
int frameCodestream(DcmPixelSequence *seq, uint32_t frame, uint32_t frames, std::vector<uint8_t> &out,
                    std::string &why) {
    unsigned long n = seq->card();
    if (n < 2) { why = "no JPEG 2000 fragments"; return SEGVOL_DCM_ERR_DECODE; }
    long current = -1;
    for (unsigned long i = 1; i < n; ++i) {
        DcmPixelItem *item = nullptr;
        if (seq->getItem(item, i).bad() || item == nullptr) { why = "missing fragment"; return SEGVOL_DCM_ERR_DECODE; }
        Uint8 *bytes = nullptr;
        if (item->getUint8Array(bytes).bad()) { why = "unreadable fragment"; return SEGVOL_DCM_ERR_DECODE; }
        Uint32 len = item->getLength();
        if (len > 0 && bytes == nullptr) { why = "unreadable fragment"; return SEGVOL_DCM_ERR_DECODE; }
        bool starts = len >= 4 && ((bytes[0] == 0xFF && bytes[1] == 0x4F && bytes[2] == 0xFF && bytes[3] == 0x51) ||
                                   (len >= 12 && bytes[4] == 'j' && bytes[5] == 'P'));
        if (frames == 1) current = 0;
        else if (starts || current < 0) current += 1;
        if (current == long(frame)) out.insert(out.end(), bytes, bytes + len);
        if (current > long(frame)) break;
    }
    if (out.empty()) { why = "frame not found among JPEG 2000 fragments"; return SEGVOL_DCM_ERR_DECODE; }
    return SEGVOL_DCM_OK;
}

int decodeJPEG2000(segvol_dcm *file, uint32_t frame, void *buf, size_t bytes, std::string &why) {
    DcmDataset *ds = file->format.getDataset();
    DcmElement *elem = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, elem).bad() || elem == nullptr) return SEGVOL_DCM_ERR_NO_PIXELS;
    DcmPixelData *pixels = OFstatic_cast(DcmPixelData *, elem);
    DcmPixelSequence *seq = nullptr;
    E_TransferSyntax xfer = ds->getOriginalXfer();
    if (pixels->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || seq == nullptr) {
        why = "pixel data is not encapsulated";
        return SEGVOL_DCM_ERR_DECODE;
    }
    Uint16 rows = 0, cols = 0, allocated = 0;
    ds->findAndGetUint16(DCM_Rows, rows);
    ds->findAndGetUint16(DCM_Columns, cols);
    ds->findAndGetUint16(DCM_BitsAllocated, allocated);
    Sint32 frames = 1;
    if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
    std::vector<uint8_t> stream;
    int status = frameCodestream(seq, frame, uint32_t(frames), stream, why);
    if (status != SEGVOL_DCM_OK) return status;
    return segvol_j2k_decode(stream.data(), stream.size(), cols, rows, allocated / 8, buf, bytes, why);
}

} // namespace

extern "C" const char *segvol_dcmtk_version(void) { return OFFIS_DCMTK_VERSION_STRING; }

extern "C" int segvol_dcm_open(const char *path, segvol_dcm **out, char *msg, size_t msglen) {
    *out = nullptr;
    try {
        setUpOnce();
        segvol_dcm *file = new segvol_dcm();
        OFCondition cond = file->format.loadFile(OFFilename(path), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
        if (cond.bad()) {
            copyMessage(cond.text(), msg, msglen);
            delete file;
            return SEGVOL_DCM_ERR_OPEN;
        }
        *out = file;
        return SEGVOL_DCM_OK;
    } catch (const std::exception &e) {
        copyMessage(e.what(), msg, msglen);
    } catch (...) {
        copyMessage("unknown C++ exception", msg, msglen);
    }
    return SEGVOL_DCM_ERR_OPEN;
}

extern "C" void segvol_dcm_close(segvol_dcm *file) { delete file; }

extern "C" void segvol_dcm_transfer_syntax(segvol_dcm *file, char *buf, size_t len) {
    // The meta header's UID when present (it names syntaxes DCMTK does not know), else the
    // encoding DCMTK detected for a file without meta header.
    OFString uid;
    DcmMetaInfo *meta = file->format.getMetaInfo();
    if (meta != nullptr && meta->findAndGetOFString(DCM_TransferSyntaxUID, uid).good() && !uid.empty()) {
        copyMessage(uid.c_str(), buf, len);
        return;
    }
    DcmXfer x(file->format.getDataset()->getOriginalXfer());
    copyMessage(x.getXferID(), buf, len);
}

extern "C" long segvol_dcm_string(segvol_dcm *file, const uint32_t *tags, const uint32_t *items, size_t depth,
                                  char *buf, size_t len) {
    try {
        DcmItem *item = walk(file, tags, items, depth);
        if (item == nullptr || depth == 0) return -1;
        OFString value;
        if (item->findAndGetOFStringArray(key(tags[depth - 1]), value).bad() || value.empty()) return -1;
        copyMessage(value.c_str(), buf, len);
        return long(value.length());
    } catch (...) {
        return -1;
    }
}

extern "C" long segvol_dcm_item_count(segvol_dcm *file, const uint32_t *tags, const uint32_t *items, size_t depth) {
    try {
        DcmItem *item = walk(file, tags, items, depth);
        if (item == nullptr || depth == 0) return -1;
        DcmSequenceOfItems *seq = nullptr;
        if (item->findAndGetSequence(key(tags[depth - 1]), seq).bad() || seq == nullptr) return -1;
        return long(seq->card());
    } catch (...) {
        return -1;
    }
}

extern "C" int segvol_dcm_has(segvol_dcm *file, uint32_t tag) {
    try {
        return file->format.getDataset()->tagExists(key(tag)) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

extern "C" int segvol_dcm_decode_frame(segvol_dcm *file, uint32_t frame, void *buf, size_t bytes, char *msg,
                                       size_t msglen) {
    std::string why;
    int status = SEGVOL_DCM_ERR_DECODE;
    try {
        setUpOnce();
        DcmDataset *ds = file->format.getDataset();
        if (isJPEG2000(ds->getOriginalXfer())) {
            status = decodeJPEG2000(file, frame, buf, bytes, why);
        } else {
            DcmElement *elem = nullptr;
            if (ds->findAndGetElement(DCM_PixelData, elem).bad() || elem == nullptr) {
                why = "no pixel data";
                status = SEGVOL_DCM_ERR_NO_PIXELS;
            } else {
                DcmPixelData *pixels = OFstatic_cast(DcmPixelData *, elem);
                Uint32 frameSize = 0;
                OFCondition cond = pixels->getUncompressedFrameSize(ds, frameSize);
                if (cond.good() && frameSize != bytes) {
                    why = "frame size " + std::to_string(frameSize) + " != expected " + std::to_string(bytes);
                    status = SEGVOL_DCM_ERR_BUFFER;
                } else if (cond.good()) {
                    // The buffer handed to DCMTK must have an even size; pad odd frames.
                    std::vector<uint8_t> scratch(bytes + (bytes & 1));
                    Uint32 start = (frame == file->nextFrame) ? file->nextFragment : 0;
                    OFString model;
                    cond = pixels->getUncompressedFrame(ds, frame, start, scratch.data(), Uint32(scratch.size()), model);
                    if (cond.good()) {
                        file->nextFrame = frame + 1;
                        file->nextFragment = start;
                        std::memcpy(buf, scratch.data(), bytes);
                        status = SEGVOL_DCM_OK;
                    }
                }
                if (cond.bad()) {
                    why = cond.text();
                    status = (cond == EC_CannotChangeRepresentation) ? SEGVOL_DCM_ERR_UNSUPPORTED : SEGVOL_DCM_ERR_DECODE;
                }
            }
        }
    } catch (const std::exception &e) {
        why = e.what();
        status = SEGVOL_DCM_ERR_DECODE;
    } catch (...) {
        why = "unknown C++ exception";
        status = SEGVOL_DCM_ERR_DECODE;
    }
    if (status != SEGVOL_DCM_OK) copyMessage(why, msg, msglen);
    return status;
}
