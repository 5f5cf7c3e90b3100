// snappy (Debian: libsnappy-dev): block compression, the body encoding of Prometheus remote write
// (the raw block format, not the framed stream). Used by the prometheus_remote_write sink.
#include <snappy-c.h>
