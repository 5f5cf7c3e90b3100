/// The `# HELP` text of every metric family the gateway exports. swift-metrics handles carry no help
/// text, so the exposition adds it from here; a family missing here is a defect (a test checks every
/// family a gateway with every component exports).
enum MetricHelp {
    static let text: [String: String] = [
        // Listeners and ingest.
        "gateway_points_received_total": "Points (and malformed lines) that arrived, per listener or plugin source.",
        "gateway_points_accepted_total": "Points that decoded and passed their schema.",
        "gateway_points_rejected_total": "Points refused, by reason (syntax, schema, journal_full, queue_full, ...).",
        "gateway_udp_kernel_drops_total": "Datagrams the kernel dropped because the socket buffer was full.",
        "gateway_udp_truncated_datagrams_total": "Datagrams over max_datagram, dropped whole.",
        "gateway_statsd_lines_total": "StatsD lines received (well-formed or not), per statsd listener.",
        "gateway_statsd_series": "Series (and pending events) the statsd aggregator holds now.",
        "gateway_statsd_flushes_total": "StatsD aggregation intervals flushed.",
        "gateway_statsd_dropped_series_total": "StatsD samples and events dropped because max_series series were held.",
        "gateway_http_unauthorized_total": "HTTP requests refused with 401.",
        "gateway_http_connections": "Open HTTP connections.",
        "gateway_http_requests_total": "HTTP requests answered, by endpoint (route pattern), method and status code.",
        "gateway_http_request_duration_seconds": "Time from a request's head to its answer, by endpoint and method.",
        "gateway_http_connections_closed_total":
            "HTTP connections the gateway closed, by reason (timeouts, max_connections, out of descriptors).",
        "gateway_http_accept_errors_total": "Failed accepts of new HTTP connections, by error (EMFILE, ENFILE, ...).",
        "gateway_journal_requests_total": "Requests written to the ingest journal (ack: durable).",
        "gateway_journal_refused_total":
            "Requests the ingest journal could not take, by reason (full: 429, io_error: 503).",
        "gateway_journal_recovered_requests_total": "Requests routed again at start from an earlier run's journal.",
        "gateway_journal_bytes": "Bytes the ingest journal holds on disk.",
        "gateway_journal_pending_requests": "Journaled requests not yet settled by every sink.",
        // Routing.
        "gateway_points_routed_total": "Points each route matched.",
        "gateway_points_unrouted_total": "Points no route sent anywhere.",
        "gateway_sink_queue_capacity": "Points a sink's queue holds at most (queue_size).",
        "gateway_tap_clients": "Live tap clients attached (GET /api/v1/tap, gateway tap).",
        "gateway_tap_points_total": "Points sent to live tap clients.",
        "gateway_tap_dropped_points_total":
            "Points a live tap client missed because its buffer was full (it read too slowly); never slows routing.",
        // Sinks.
        "gateway_points_written_total": "Points a sink took (network sinks: delivered directly; archive: stored).",
        "gateway_points_spooled_total": "Points put in the spool.",
        "gateway_points_replayed_total": "Points delivered from the spool.",
        "gateway_points_dead_lettered_total":
            "Points the server refused for good (400 line, 422, 413 single line; remote write: 4xx).",
        "gateway_sink_fields_dropped_total":
            "Fields a sink could not carry and left out, by reason (string: remote write has no string samples).",
        "gateway_points_dropped_total":
            "Points dropped, by reason (queue_full, write_error, spool_full, spool_corrupt).",
        "gateway_sink_retries_total": "Retried requests.",
        "gateway_group_points_total": "Points a group sink handed to each member (shard: each replica counted).",
        "gateway_group_rerouted_points_total":
            "Points a group member took for a member that was down (shard with reroute_when_down).",
        "gateway_group_member_healthy": "1 while a group's member is healthy (it then takes its share); 0 while down.",
        "gateway_group_members": "Members of a group sink, labelled with its mode (shard, failover).",
        "gateway_sink_healthy": "1 while the sink is healthy; 0 while retrying, refused or its spool cannot write.",
        "gateway_sink_queue_points": "Points waiting in the sink's queue.",
        "gateway_sink_queue_bytes":
            "Memory the points waiting in the sink's queue take (objects, or packed while the sink is behind).",
        "gateway_sink_queue_max_bytes": "Memory a sink's queue holds at most (queue_max_bytes).",
        "gateway_sink_batches_total": "Batches written.",
        "gateway_sink_write_errors_total": "Writes that failed.",
        "gateway_spool_batches": "Batches in the spool.",
        "gateway_spool_points": "Points in the spool.",
        "gateway_spool_bytes": "Compressed bytes in the spool.",
        "gateway_spool_oldest_age_seconds": "Age of the oldest spooled batch.",
        "gateway_spool_writable": "1 while the spool file takes writes; 0 on a full disk or I/O error.",
        "gateway_spool_salvaged_batches_total": "Batches salvaged from a damaged spool file at start.",
        "gateway_spool_salvaged_points_total": "Points salvaged from a damaged spool file at start.",
        "gateway_spool_lost_batches_total": "Batches a damaged spool file lost (at most).",
        // Plugins.
        "gateway_plugin_errors_total": "Plugin failures (a pass, a run or a file that failed).",
        "gateway_plugin_proc_passes_total": "proc collection passes.",
        "gateway_plugin_proc_pass_seconds": "Duration of the last proc collection pass.",
        "gateway_plugin_proc_processes": "Processes the last proc pass read.",
        "gateway_plugin_proc_store_evicted_total": "Usage series evicted to make room at max_series.",
        "gateway_plugin_proc_store_refused_total": "Usage samples refused for being ahead of this gateway's clock.",
        "gateway_plugin_proc_alarm_transitions_total": "Alarm level changes.",
        "gateway_plugin_dwmon_checks_total": "dwmon checks made, by status.",
        "gateway_plugin_dwmon_query_seconds": "Duration of the checker's last query.",
        "gateway_plugin_dwmon_slow_queries_total": "Queries at or over slow_query.",
        "gateway_plugin_dwmon_query_errors_total": "dwmon runs that failed.",
        "gateway_plugin_dwmon_new_keys_total": "Keys stored for the first time.",
        "gateway_plugin_dwmon_bad_rows_total": "Rows skipped for lacking a usable key or time.",
        "gateway_plugin_dwmon_webhook_total": "Alerts posted to the webhook, by outcome.",
        "gateway_plugin_jobdir_scans_total": "jobdir scans.",
        "gateway_plugin_jobdir_scan_seconds": "Duration of the last jobdir scan.",
        "gateway_plugin_jobdir_scan_errors_total": "Unreadable directories and failed scans.",
        "gateway_plugin_jobdir_jobs_queued_total": "Jobs queued by scans.",
        "gateway_plugin_jobdir_jobs_finished_total": "Jobs reported done, by outcome.",
        "gateway_plugin_jobdir_jobs_requeued_total": "Jobs taken from dead processors.",
        "gateway_plugin_jobdir_priority_requests_total": "Priority requests.",
        "gateway_plugin_jobdir_cleanup_failures_total": "Moves or deletions that failed (retried).",
        // The process.
        "gateway_build_info": "Always 1; the version in a label.",
        "process_cpu_seconds_total": "User and system CPU time of the gateway process.",
        "process_resident_memory_bytes": "Resident memory of the gateway process.",
        "process_virtual_memory_bytes": "Virtual memory of the gateway process.",
        "process_open_fds": "Open file descriptors.",
        "process_max_fds": "The open file descriptor limit.",
        "process_start_time_seconds": "Start time of the process, in seconds since the epoch.",
    ]
}
