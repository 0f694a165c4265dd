"""Live sites: ``epolice run`` (the camera worker), ``epolice status``, ``epolice writer``, ``epolice soak``.

Four top-level commands of one concern, the live worker; they share how a worker is built.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines.cli.app import app
from pipelines.cli.common import PrintJsonOpt, StreamThreadsOpt, fail, load_site_or_exit, open_store


def _live_config(site, path: Path | None, spool_dir: Path | None):
    """The site file's ``live:`` section, or a separate YAML given with --live-config."""
    from pipelines.live.config import load_live_config

    try:
        cfg = load_live_config(path) if path is not None else site.live
    except ValueError as exc:
        raise fail(str(exc)) from None
    return cfg.model_copy(update={"spool_dir": spool_dir}) if spool_dir else cfg


def _redis(url: str):
    import redis

    from pipelines.live.bus import redis_client
    from vision.sources.redact import mask_url

    client = redis_client(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise fail(f"cannot reach Redis at {mask_url(url)}: {exc}") from None
    return client


def _build_worker(
    site_path: Path, cameras: str | None, redis_url: str | None, metrics_port: int | None, metrics_host: str,
    live_config: Path | None, spool_dir: Path | None, worker_id: str | None, writer: bool, threads: int | None,
):
    """Everything ``run`` needs, each failure one clean error line (site, camera, key, model, Redis, store)."""
    from evidence.signing import KeyFileError, Signer
    from models.registry import ModelMissingError
    from pipelines.live.worker import LiveWorker, live_cameras
    from pipelines.site_models import detectors_from_site

    site = load_site_or_exit(site_path)
    live = _live_config(site, live_config, spool_dir)
    chosen = [c.strip() for c in cameras.split(",") if c.strip()] if cameras else None
    try:
        cams = live_cameras(site, chosen)
    except (KeyError, ValueError) as exc:
        raise fail(str(exc).strip('"')) from None
    try:
        signer = Signer.from_file(site.evidence.signing_key)
    except KeyFileError as exc:
        raise fail(str(exc)) from None
    client = _redis(redis_url) if redis_url else None  # cheap checks first, models last
    try:
        detector, helmet = detectors_from_site(site, cams, threads=threads)
        plates = None
        if any(site.rules_for(c) or c.capture_lines for c in cams):
            from pipelines.site_models import plate_reader_from_site

            plates = plate_reader_from_site(site, threads=threads)
    except ModelMissingError as exc:
        raise fail(str(exc)) from None
    checkpoint = any(c.capture_lines for c in cams)
    store = open_store(site.store) if (client is None or writer or checkpoint) else None
    sink = None
    if checkpoint:
        from pipelines.checkpoint.sink import CheckpointSink

        try:
            sink = CheckpointSink.from_site(site, store.engine, client)
        except ValueError as exc:  # a webhook secret missing from the environment
            raise fail(str(exc)) from None
    return LiveWorker(
        site, live, detector, evidence_cfg=site.evidence, signer=signer, cameras=chosen, helmet_detector=helmet,
        plate_reader=plates, store=store, redis_client=client, run_writer=writer, worker_id=worker_id,
        metrics_port=metrics_port, metrics_host=metrics_host, checkpoint=sink,
    )


@app.command("run")
def run(
    site_path: Path = typer.Option(..., "--site", help="site YAML (cameras with rtsp:// sources)"),
    cameras: str | None = typer.Option(None, help="comma-separated camera ids to run (default: all of the site)"),
    redis_url: str | None = typer.Option(None, "--redis", help="share the site's cameras with other workers via Redis leases"),
    metrics_port: int | None = typer.Option(9108, help="port for /metrics and /healthz (0 = any free port)"),
    metrics_host: str = typer.Option("127.0.0.1", help="address the metrics port binds to (0.0.0.0: every interface, for a remote Prometheus)"),
    live_config: Path | None = typer.Option(None, help="YAML with live settings, instead of the site file's live: section"),
    spool_dir: Path | None = typer.Option(None, help="where events wait during a Redis outage (default ./spool)"),
    worker_id: str | None = typer.Option(None, help="name of this worker in leases and status (default host-pid)"),
    writer: bool = typer.Option(True, help="with --redis: also run a record writer in this process"),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING..."),
    threads: int = StreamThreadsOpt,
) -> None:
    """Run the live cameras of a site until SIGTERM/Ctrl-C, then finish in-flight evidence and exit 0."""
    import signal

    from pipelines.live.logs import setup_json_logging

    worker = _build_worker(site_path, cameras, redis_url, metrics_port, metrics_host, live_config, spool_dir, worker_id, writer, threads)
    setup_json_logging(log_level.upper())  # after the checks: their errors are one plain line
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.request_stop())
    raise typer.Exit(worker.run())


@app.command("writer")
def writer_cmd(
    site_path: Path = typer.Option(..., "--site", help="site YAML (its store: section says where records go)"),
    redis_url: str = typer.Option(..., "--redis", help="Redis holding the site's events stream"),
    consumer: str | None = typer.Option(None, help="consumer name in the group (default host-pid)"),
    claim_idle_s: float = typer.Option(30.0, help="reclaim entries another writer left pending this long"),
    max_deliveries: int = typer.Option(10, min=1, help="a record the store refuses this many times goes to the dead letters"),
    log_level: str = typer.Option("INFO"),
) -> None:
    """Store records from the site's Redis events stream (consumer group; safe to run several).

    Each record is checked against its signed package first (the evidence folder must be readable here)."""
    import signal
    import threading

    from evidence.export import record_problems
    from evidence.signing import KeyFileError, load_keyring
    from pipelines.live.logs import setup_json_logging
    from pipelines.live.writer import RecordWriter

    site = load_site_or_exit(site_path)
    try:
        trusted = load_keyring(site.evidence.public_key_path, site.evidence.trusted_keys_dir)
    except KeyFileError as exc:
        raise fail(f"{exc} (the writer stores only records their signed package backs)") from None
    client = _redis(redis_url)
    store = open_store(site.store)
    setup_json_logging(log_level.upper())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    RecordWriter(client, site.id, store, consumer=consumer, claim_idle_ms=int(claim_idle_s * 1000),
                 verify=lambda rec: record_problems(rec, trusted), max_deliveries=max_deliveries).run(stop)


@app.command("status")
def status(
    url: str | None = typer.Option(None, help="a worker's health URL, e.g. http://127.0.0.1:9108/healthz"),
    redis_url: str | None = typer.Option(None, "--redis", help="read every worker's status from Redis (needs --site)"),
    site_id: str | None = typer.Option(None, "--site", help="site id (with --redis)"),
    as_json: bool = PrintJsonOpt,
) -> None:
    """Camera health of running workers: state, time down, alerts, frames, drops, reconnects."""
    from pipelines.live.status import WorkerStatus, status_key

    if (url is None) == (redis_url is None):
        raise fail("give either --url http://HOST:PORT/healthz or --redis URL --site ID")
    docs: list[WorkerStatus] = []
    letters = None
    if url is not None:
        import urllib.request

        target = url if "/health" in url else url.rstrip("/") + "/healthz"
        try:
            with urllib.request.urlopen(target, timeout=5) as resp:  # stdlib: no HTTP client dependency at run time
                docs.append(WorkerStatus.model_validate_json(resp.read()))
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read worker health at {target}: {exc}") from None
    else:
        if not site_id:
            raise fail("--redis needs --site ID")
        from pipelines.live.writer import dead_letters

        client = _redis(redis_url)
        for key in sorted(client.scan_iter(match=status_key(site_id, "*"))):
            raw = client.get(key)
            if raw:
                docs.append(WorkerStatus.model_validate_json(raw))
        letters = dead_letters(client, site_id)
    if as_json:
        out = {"workers": [d.model_dump(mode="json") for d in docs]}
        if letters is not None:
            out["dead_letters"] = letters.model_dump(mode="json")
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if letters is not None and letters.count:
        console.print(f"[red]{letters.count} record(s) in the dead letters[/] (store them with `epolice records ingest` "
                      "once the cause is fixed); latest:")
        for d in letters.latest:
            console.print(f"  {d.at} {d.key or d.entry}: {d.error}")
    if not docs:
        console.print(f"no live workers report for site {site_id!r}")
        raise typer.Exit(1)
    for d in docs:
        table = Table(title=f"site {d.site_id} — worker {d.worker} — {d.status} (redis: {d.redis or 'off'}, spooled {d.spooled})")
        for col in ("camera", "state", "down s", "alert", "decoded", "dropped", "reconnects", "last error"):
            table.add_column(col)
        colours = {"live": "green", "connecting": "yellow", "stalled": "yellow", "offline": "red"}
        for c in d.cameras:
            table.add_row(
                c.camera_id, f"[{colours[c.state]}]{c.state}[/]", f"{c.down_for_s:.0f}", "ALERT" if c.alerting else "",
                str(c.decoded), str(c.dropped), str(c.reconnects), c.last_error or "",
            )
        console.print(table)


@app.command("soak")
def soak(
    url: str | None = typer.Option(None, help="rtsp:// camera: ingest only (decode, reconnect, latest-frame queue)"),
    site_path: Path | None = typer.Option(None, "--site", help="site YAML: the full worker (detector, tracker, rules, evidence)"),
    minutes: float = typer.Option(30.0, help="how long to stream"),
    interval_s: float = typer.Option(60.0, help="seconds between RSS samples"),
    live_config: Path | None = typer.Option(None, help="with --site: live settings YAML"),
    spool_dir: Path | None = typer.Option(None, help="with --site: spool directory"),
    threads: int = StreamThreadsOpt,
    consumer_ms: float = typer.Option(0.0, help="with --url: simulated detector time per frame (ms), to show frame age stays bounded"),
    queue_size: int = typer.Option(2, help="with --url: latest-frame queue size (a huge value behaves like a FIFO)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object at the end"),
) -> None:
    """Stream for N minutes and print RSS over time: memory must stay flat (not part of the test run)."""
    import logging

    from pipelines.bench.soak import run_soak

    if (url is None) == (site_path is None):
        raise fail("give either --url rtsp://... (ingest only) or --site SITE.yaml (full worker)")
    logging.basicConfig(level=logging.WARNING)
    worker = src = None
    if site_path is not None:
        worker = _build_worker(site_path, None, None, None, "127.0.0.1", live_config, spool_dir, "soak", False, threads)
    else:
        from vision.sources.rtsp import RtspConfig, RtspSource

        try:
            src = RtspSource("soak", url, RtspConfig(queue_size=queue_size)).start()
        except ValueError as exc:
            raise fail(str(exc)) from None

    def _print(sample: dict) -> None:
        if not as_json:
            print("  ".join(f"{k}={v}" for k, v in sample.items()), flush=True)  # live progress, even into a file

    summary = run_soak(worker=worker, source=src, minutes=minutes, interval_s=interval_s, consumer_ms=consumer_ms, on_sample=_print)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"rss after warm-up {summary['rss_after_warmup_mb']} MB, at end {summary['rss_end_mb']} MB, max {summary['rss_max_mb']} MB")
