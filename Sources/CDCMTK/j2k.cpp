// JPEG 2000 (ISO 15444-1) decoding with OpenJPEG from a memory stream. Free DCMTK has no
// JPEG 2000 codec, so the shim extracts the encapsulated fragments itself (shim.cpp) and
// decodes them here, the way dcm2niix does with its OpenJPEG build.
#include "j2k.h"
#include "CDCMTK.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

namespace {

struct MemoryStream {
    const unsigned char *data;
    OPJ_SIZE_T size;
    OPJ_SIZE_T offset;
};

OPJ_SIZE_T readBytes(void *out, OPJ_SIZE_T n, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (s->offset >= s->size) return OPJ_SIZE_T(-1);
    OPJ_SIZE_T count = std::min(n, s->size - s->offset);
    std::memcpy(out, s->data + s->offset, count);
    s->offset += count;
    return count;
}

OPJ_OFF_T skipBytes(OPJ_OFF_T n, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    OPJ_OFF_T target = OPJ_OFF_T(s->offset) + n;
    if (target < 0) target = 0;
    if (target > OPJ_OFF_T(s->size)) target = OPJ_OFF_T(s->size);
    OPJ_OFF_T moved = target - OPJ_OFF_T(s->offset);
    s->offset = OPJ_SIZE_T(target);
    return moved;
}

OPJ_BOOL seekBytes(OPJ_OFF_T n, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (n < 0 || n > OPJ_OFF_T(s->size)) return OPJ_FALSE;
    s->offset = OPJ_SIZE_T(n);
    return OPJ_TRUE;
}

void quiet(const char *, void *) {}

void recordError(const char *text, void *user) {
    auto *why = static_cast<std::string *>(user);
    if (why->empty() && text != nullptr) {
        *why = text;
        while (!why->empty() && (why->back() == '\n' || why->back() == '\r')) why->pop_back();
    }
}

struct CodecDeleter { void operator()(opj_codec_t *c) const { opj_destroy_codec(c); } };
struct StreamDeleter { void operator()(opj_stream_t *s) const { opj_stream_destroy(s); } };
struct ImageDeleter { void operator()(opj_image_t *i) const { opj_image_destroy(i); } };

} // namespace

int segvol_j2k_decode(const unsigned char *data, size_t size, unsigned width, unsigned height,
                      unsigned bytesPerSample, void *out, size_t outBytes, std::string &why) {
    if (bytesPerSample != 1 && bytesPerSample != 2 && bytesPerSample != 4) {
        why = "unsupported BitsAllocated for JPEG 2000";
        return SEGVOL_DCM_ERR_UNSUPPORTED;
    }
    if (size_t(width) * height * bytesPerSample != outBytes) {
        why = "JPEG 2000 frame buffer size mismatch";
        return SEGVOL_DCM_ERR_BUFFER;
    }
    bool jp2 = size >= 12 && data[4] == 'j' && data[5] == 'P';
    std::unique_ptr<opj_codec_t, CodecDeleter> codec(opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
    if (!codec) { why = "OpenJPEG codec creation failed"; return SEGVOL_DCM_ERR_DECODE; }
    std::string opjError;
    opj_set_info_handler(codec.get(), quiet, nullptr);
    opj_set_warning_handler(codec.get(), quiet, nullptr);
    opj_set_error_handler(codec.get(), recordError, &opjError);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec.get(), &params)) { why = "OpenJPEG setup failed"; return SEGVOL_DCM_ERR_DECODE; }

    MemoryStream memory{data, size, 0};
    std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE));
    if (!stream) { why = "OpenJPEG stream creation failed"; return SEGVOL_DCM_ERR_DECODE; }
    opj_stream_set_user_data(stream.get(), &memory, nullptr);
    opj_stream_set_user_data_length(stream.get(), size);
    opj_stream_set_read_function(stream.get(), readBytes);
    opj_stream_set_skip_function(stream.get(), skipBytes);
    opj_stream_set_seek_function(stream.get(), seekBytes);

    opj_image_t *raw = nullptr;
    if (!opj_read_header(stream.get(), codec.get(), &raw)) {
        opj_image_destroy(raw);
        why = "JPEG 2000 header: " + (opjError.empty() ? std::string("unreadable") : opjError);
        return SEGVOL_DCM_ERR_DECODE;
    }
    std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
    // Refuse before decoding (and allocating) when the codestream disagrees with Rows/Columns.
    if (image->x1 - image->x0 != width || image->y1 - image->y0 != height || image->numcomps != 1) {
        why = "JPEG 2000 header does not match Rows/Columns/SamplesPerPixel";
        return SEGVOL_DCM_ERR_DECODE;
    }
    if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get())) {
        why = "JPEG 2000 decode: " + (opjError.empty() ? std::string("corrupt or truncated codestream") : opjError);
        return SEGVOL_DCM_ERR_DECODE;
    }
    if (image->numcomps != 1) { why = "JPEG 2000 image has more than one component"; return SEGVOL_DCM_ERR_UNSUPPORTED; }
    const opj_image_comp_t &c = image->comps[0];
    if (c.w != width || c.h != height || c.data == nullptr) {
        why = "JPEG 2000 image size differs from Rows/Columns";
        return SEGVOL_DCM_ERR_DECODE;
    }
    size_t count = size_t(width) * height;
    for (size_t i = 0; i < count; ++i) {
        int32_t v = c.data[i];
        switch (bytesPerSample) {
        case 1: static_cast<uint8_t *>(out)[i] = uint8_t(v); break;
        case 2: static_cast<uint16_t *>(out)[i] = uint16_t(v); break;
        default: static_cast<uint32_t *>(out)[i] = uint32_t(v); break;
        }
    }
    return SEGVOL_DCM_OK;
}
