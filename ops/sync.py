"""Hot reload: every web process follows the published knowledge version.

A published edit goes live in seconds because the new index keeps the live index's re-ranker: the
shipped model and the thresholds chosen with it (knowledge/model/; its features do not name items).
Nothing is retrained at run time, so every replica and every machine decides the same way.

A background thread compares the published version id in the database with the one its index was
built from; when they differ it loads that version and calls `KnowledgeService.rebuild()` (which
builds off the request path and swaps one reference, keeping the old index if the build fails).
It is woken at once by a publish in this process (`notify()`) or, with REDIS_URL, by a message on
the `insurebot:kb:published` channel from any replica; without Redis it polls every 2 s. With Redis
it still polls every 15 s (every 2 s while the subscription is down), so a lost message or a Redis
outage only delays convergence.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from knowledge.service import KnowledgeService
from ops.store import KbStore

log = logging.getLogger(__name__)

CHANNEL = "insurebot:kb:published"
POLL_S = 2.0
POLL_WITH_REDIS_S = 15.0
RETRY_FAILED_S = 60.0


class KnowledgeSync:
    def __init__(self, service: KnowledgeService, store_factory: Callable[[], KbStore], redis_url: str = "", *,
                 poll_s: Optional[float] = None) -> None:
        self.service = service
        self._store_factory = store_factory
        self._store: Optional[KbStore] = None
        self.redis_url = redis_url
        self.poll_s = poll_s if poll_s is not None else (POLL_WITH_REDIS_S if redis_url else POLL_S)
        self.live_version_id: Optional[int] = None
        self.building_version_id: Optional[int] = None
        self.failed_version_id: Optional[int] = None
        self.failed_at = 0.0
        self.last_error: Optional[str] = None
        self.redis_connected = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._first_build = threading.Event()
        self._threads: list[threading.Thread] = []
        self._redis: Any = None

    @property
    def store(self) -> KbStore:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "KnowledgeSync":
        self._spawn(self._run, "kb-sync")
        if self.redis_url:
            self._spawn(self._listen, "kb-sync-redis")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        pubsub = self._redis
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:
                pass
        for thread in self._threads:
            thread.join(timeout)

    def wait_first_build(self, timeout: float) -> bool:
        return self._first_build.wait(timeout)

    def notify(self, version_id: Optional[int] = None) -> None:
        """A version was published: check now here, and tell the other replicas (Redis)."""
        self._wake.set()
        if self.redis_url:
            try:
                import redis

                client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
                try:
                    client.publish(CHANNEL, str(version_id or ""))
                finally:
                    client.close()
            except Exception as exc:  # the poll still converges every replica
                log.warning("reload signal not sent; replicas converge by polling",
                            extra={"event": "kb.notify_failed", "error": type(exc).__name__})

    def status(self) -> dict[str, Any]:
        return {"live_version_id": self.live_version_id, "building_version_id": self.building_version_id,
                "failed_version_id": self.failed_version_id, "last_error": self.last_error,
                "index_version": self.service.version, "mode": "redis" if self.redis_url else "poll",
                "redis_connected": self.redis_connected, "poll_s": self.poll_s}

    # ---- the loop -----------------------------------------------------------------------------
    def check_once(self) -> bool:
        """Bring the index to the published version if needed; True when a new index went live."""
        published = self.store.ensure_seeded()
        if published == self.live_version_id:
            return False
        if published == self.failed_version_id and time.monotonic() - self.failed_at < RETRY_FAILED_S:
            return False
        self.building_version_id = published
        try:
            snapshot = self.store.snapshot(published)
            if self.service.ready and self.service.version == snapshot.version:
                swapped = False  # same FAQ/clause content (e.g. only rate tables changed): nothing to build
            else:
                started = time.perf_counter()
                quick = self.service.ready  # later builds keep the live re-ranker
                self.service.rebuild(snapshot, reuse_reranker=quick)
                swapped = True
                log.info("published knowledge version live", extra={
                    "event": "kb.reloaded", "version_id": published, "index_version": snapshot.version,
                    "reused_reranker": quick, "seconds": round(time.perf_counter() - started, 2)})
            self.live_version_id, self.failed_version_id, self.last_error = published, None, None
            return swapped
        except Exception as exc:
            self.failed_version_id, self.failed_at = published, time.monotonic()
            self.last_error = f"版本 {published} 构建失败：{type(exc).__name__}: {exc}"
            log.error("published knowledge version failed to build; the previous index keeps serving",
                      extra={"event": "kb.reload_failed", "version_id": published, "error": type(exc).__name__})
            return False
        finally:
            self.building_version_id = None

    def _run(self) -> None:
        try:  # knowledge/content edited since the last start (a deploy, a developer): import those files
            imported = self.store.import_seed_changes()
            if imported is not None:
                log.info("changed seed files imported and published", extra={
                    "event": "kb.seed_imported", "version_id": imported.id, "documents": len(imported.changes)})
        except Exception as exc:  # never blocks serving the published version
            log.warning("seed files not checked", extra={"event": "kb.seed_check_failed", "error": type(exc).__name__})
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception as exc:  # database away: keep serving what we have, try again
                self.last_error = f"无法读取已发布版本：{type(exc).__name__}"
                log.warning("knowledge sync check failed", extra={"event": "kb.sync_error",
                                                                  "error": type(exc).__name__})
            if self.service.ready:
                self._first_build.set()
            # with Redis down, fall back to the short poll until the subscription is back
            wait = self.poll_s if (not self.redis_url or self.redis_connected) else min(self.poll_s, POLL_S)
            self._wake.wait(wait)
            self._wake.clear()

    def _listen(self) -> None:
        import redis

        backoff = 1.0
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=3, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self._redis = pubsub
                self.redis_connected, backoff = True, 1.0
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._wake.set()
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.redis_connected = False
                log.warning("reload channel lost; polling the database meanwhile",
                            extra={"event": "kb.redis_lost", "error": type(exc).__name__})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                self.redis_connected = False
                try:
                    if self._redis is not None:
                        self._redis.close()
                except Exception:
                    pass
                self._redis = None
