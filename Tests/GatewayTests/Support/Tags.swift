import Testing

extension Tag {
    /// Starts servers (VictoriaMetrics, PostgreSQL), the release binary or a load, or runs for more than a
    /// few seconds: `scripts/test.sh --fast` leaves these out; `scripts/test.sh` (and CI) runs them.
    @Tag static var slow: Self
}
