// CDeflate: libdeflate's raw DEFLATE decompressor and CRC-32, imported only by Spool
// (ZipExtractor) to unpack zip drops in the worker. Decompression writes into a buffer of the
// entry's declared size and fails if the data would exceed it, so a zip bomb cannot overrun.
#include <libdeflate.h>
