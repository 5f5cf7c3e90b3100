// libdeflate (Debian: libdeflate-dev): whole-buffer DEFLATE/gzip compression, several times faster
// than zlib at its fastest levels. Used for the gzip bodies the influx2 sink sends and spools.
#include <libdeflate.h>
