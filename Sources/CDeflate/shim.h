// CDeflate: libdeflate, imported by Spool (ZipExtractor: the raw DEFLATE decompressor and
// CRC-32, to unpack zip drops in the worker; decompression writes into a buffer of the entry's
// declared size and fails if the data would exceed it, so a zip bomb cannot overrun) and by
// Volumetry (PNGWriter's fast encoding: the zlib compressor and CRC-32).
#include <libdeflate.h>
