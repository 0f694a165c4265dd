"""Live camera sites: RTSP workers, leases, event transport, metrics and health (see worker)."""
