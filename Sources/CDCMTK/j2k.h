// JPEG 2000 decoding of one codestream with OpenJPEG (internal to the CDCMTK shim).
#pragma once
#include <cstddef>
#include <string>

/// Decodes a J2K codestream or JP2 file held in memory into `out` (width*height samples of
/// `bytesPerSample` bytes, host order). Returns a SEGVOL_DCM_* status; `why` on failure.
int segvol_j2k_decode(const unsigned char *data, size_t size, unsigned width, unsigned height,
                      unsigned bytesPerSample, void *out, size_t outBytes, std::string &why);
