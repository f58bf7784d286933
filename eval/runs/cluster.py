"""Rollouts on a Ray cluster: the strategy stays in the driver, each rollout runs as a Ray task on a node with
a Docker engine and returns its trajectory, which the driver alone writes into the run directory.

Nodes offer a custom resource (`cluster.resource`, "docker" by default), one unit per rollout slot; a node
without it never receives a rollout. A rollout runs in a scratch directory of its node and calls the model from
there (the model's key, if any, must be in the environment of the node's `ray start`). A rollout lost with its
node is started again on another (Ray retries a task whose worker or node died); only the finished one reaches
the driver, so it is recorded once. Each node keeps its own image cache (eval/tasks/image_cache.py) in an actor.
A container task is checked on the node, in the rollout's container; its reward returns with the trajectory.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from codescale.agent.models.limits import LIMITS
from codescale.agent.models.spending import Spending
from codescale.agent.files import TaskFiles, write_atomic
from codescale.agent.records import Task, Trajectory
from codescale.agent.rollout import RolloutConfig, run_rollout
from codescale.eval.tasks.image_cache import ImageCacheConfig, ImageStats
from codescale.eval.tasks.kinds import as_kind

log = logging.getLogger(__name__)

NAMESPACE = "codescale"


class ClusterConfig(BaseModel):
    """Where rollouts run: this process's threads, or the nodes of a Ray cluster."""

    model_config = ConfigDict(extra="forbid")

    address: str = ""
    """"" runs rollouts here; "auto" on the Ray cluster this machine belongs to; else its head's HOST:PORT."""
    resource: str = "docker"
    """Node resource that marks a Docker engine; each unit is one rollout slot (`ray start --resources`)."""
    retries: int = Field(3, ge=0)
    """Times a rollout lost with its node (or worker process) is started again elsewhere."""


class ClusterError(Exception):
    """The cluster cannot run this batch (not reachable, no node with Docker); the message says what to do."""


class NodeImages:
    """The image cache of one node, as a Ray actor that the node's rollouts share."""

    def __init__(self, config: dict):
        from codescale.eval.tasks.image_cache import ImageCache

        self.cache = ImageCache(ImageCacheConfig.model_validate(config))

    def acquire(self, task_json: str) -> dict:
        return self.cache.acquire(as_kind(json.loads(task_json)))

    def release(self, image: str) -> None:
        self.cache.release(image)

    def finished(self, image: str) -> None:
        self.cache.finished(image)

    def prefetch(self, task_json: str) -> dict | None:
        return self.cache.prefetch_one(as_kind(json.loads(task_json)))


def _images_actor(run_id: str, node_id: str) -> str:
    return f"images-{run_id}-{node_id}"


def rollout_on_node(task_json: str, config_json: str, run_id: str, rollout_id: str, generation: int,
                    refinement_context: str, images: dict, after=None) -> tuple[str, dict, dict[str, bytes]]:
    """The body of a rollout's Ray task: the image held in the node's cache, the rollout in a scratch directory
    (and `after`, the rollout's hook, writing there). Returns the trajectory (JSON), what was done for the image,
    and every other file the rollout left in its scratch directory (e.g. a container task's reward), by name."""
    import ray

    task = as_kind(json.loads(task_json))
    config = RolloutConfig.model_validate_json(config_json)
    cache = None
    done: dict = {}
    if config.sandbox.get("kind", "docker") == "docker":
        try:
            cache = ray.get_actor(_images_actor(run_id, ray.get_runtime_context().get_node_id()), namespace=NAMESPACE)
        except ValueError:  # a node that joined after the start: no shared cache, the image is just made present
            import docker

            from codescale.eval.tasks.image_cache import ensure

            pulled, retries = ensure(task, docker.from_env(), images["attempts"], images["wait"])
            done = {"pulled": pulled, "retries": retries, "seconds": 0.0}
        else:
            done = ray.get(cache.acquire.remote(task_json))
    done["node"] = ray.get_runtime_context().get_node_id()
    try:
        with tempfile.TemporaryDirectory(prefix="codescale-rollout-") as scratch:
            traj = run_rollout(task, config, run_id=run_id, rollout_id=rollout_id, task_dir=Path(scratch),
                               generation=generation, refinement_context=refinement_context, after=after)
            trajectory = TaskFiles(scratch).trajectory(rollout_id)
            kept = {p.name: p.read_bytes() for p in Path(scratch).iterdir() if p.is_file() and p != trajectory}
    finally:
        if cache is not None:
            cache.release.remote(task.image)
    return traj.model_dump_json(), done, kept


def remove_run_containers(run_id: str) -> int:
    from codescale.sandboxes.docker import remove_containers

    return remove_containers(run_id)


class Cluster:
    """A connection to a Ray cluster for one batch run: submits rollouts, counts them, cancels them."""

    def __init__(self, config: ClusterConfig, run_id: str, images: ImageCacheConfig, stats: ImageStats):
        self.config, self.run_id, self.images, self.stats = config, run_id, images, stats
        self._refs: set[Any] = set()
        self._lock = threading.Lock()
        self._actors: dict[str, Any] = {}
        self._holders: dict[str, list[str]] = {}
        """Image -> the nodes a rollout of it ran on or it was pulled ahead on (so they have it), for placing the
        next rollouts."""
        self._turn = 0
        """Round robin over the nodes for pulling ahead."""

    # --- lifetime --------------------------------------------------------------------------------

    def connect(self) -> Cluster:
        """Join the cluster; start one image cache per node with Docker. Raises ClusterError."""
        try:
            import ray
        except ImportError:
            raise ClusterError("--ray needs Ray: pip install 'codescale[ray]'") from None
        try:
            ray.init(address=self.config.address, namespace=NAMESPACE, log_to_driver=False,
                     ignore_reinit_error=True, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ClusterError(f"cannot join the Ray cluster at {self.config.address!r}: {e}") from None
        nodes = self.docker_nodes()
        if not nodes:
            raise ClusterError(f"no node of the Ray cluster offers the resource {self.config.resource!r}; start "
                               f"nodes that have Docker with: ray start ... --resources='{{\"{self.config.resource}\": 4}}'")
        for node_id in nodes:
            self._actors[node_id] = ray.remote(NodeImages).options(
                name=_images_actor(self.run_id, node_id), namespace=NAMESPACE, max_concurrency=64,
                **self._pinned(node_id),
            ).remote(self.images.model_dump())
        return self

    def docker_nodes(self) -> list[str]:
        import ray

        return [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get(self.config.resource, 0) > 0]

    def slots(self) -> int:
        """Rollout slots of the cluster's live nodes with Docker."""
        import ray

        return int(sum(n["Resources"].get(self.config.resource, 0) for n in ray.nodes() if n["Alive"]))

    def close(self) -> None:
        """Remove what this run left on every node (containers of rollouts lost with a worker), stop the caches."""
        import ray

        self.sweep()
        for actor in self._actors.values():
            ray.kill(actor)
        self._actors.clear()
        ray.shutdown()

    def interrupt(self) -> None:
        """Ctrl-C: cancel every rollout in flight, then remove the run's containers on every node."""
        import ray

        with self._lock:
            refs = list(self._refs)
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or its node gone
                pass
        ray.wait(refs, num_returns=len(refs), timeout=10.0)  # the cancelled workers are gone (or given up on)
        self.sweep()
        time.sleep(1.0)  # a create the engine was still doing for a killed worker lands now: sweep once more
        self.sweep()

    def sweep(self, timeout: float = 60.0) -> int:
        """Remove this run's containers on every live node with Docker; returns how many."""
        import ray

        remote = ray.remote(remove_run_containers)
        refs = [remote.options(**self._pinned(node)).remote(self.run_id) for node in self.docker_nodes()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        removed = 0
        for ref in ready:
            try:
                removed += ray.get(ref)
            except ray.exceptions.RayError as e:  # one node's sweep failed: the others still count
                log.warning("removing this run's containers failed on a node: %s", e)
        return removed

    def _placement(self, image: str, rollout_id: str) -> dict:
        """Prefer a node that already has `image` while it has a free slot; any node otherwise."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        with self._lock:
            holders = list(self._holders.get(image, ()))
        if not holders:
            return {}
        node = holders[sum(map(ord, rollout_id)) % len(holders)]
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=True, _spill_on_unavailable=True)}

    @staticmethod
    def _pinned(node_id: str) -> dict:
        """Ray options that place a task or actor on node `node_id` (and take no CPU from its rollouts)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return {"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}

    # --- work ------------------------------------------------------------------------------------

    def finished(self, image: str) -> None:
        """A task is done: every node's cache may remove its image (with `remove_finished`)."""
        for actor in self._actors.values():
            actor.finished.remote(image)

    def prefetch(self, tasks: list[Task]) -> None:
        """Make the images of the first `pull_ahead` of `tasks` present in the background, each on one node (in
        turn) that no rollout of it has run on yet; their rollouts then go to that node first."""
        for task in tasks[: self.images.pull_ahead]:
            with self._lock:
                nodes = list(self._actors)
                if task.image in self._holders or not nodes:
                    continue
                node = nodes[self._turn % len(nodes)]
                self._turn += 1
                self._holders[task.image] = [node]
            self._actors[node].prefetch.remote(task.model_dump_json()).future().add_done_callback(self._count_prefetch)

    def _count_prefetch(self, future) -> None:
        try:
            done = future.result()
        except Exception as e:  # its node died, or the run is closing: its rollouts make the image present
            log.warning("pulling an image ahead on a node failed: %s", e)
            return
        if done:
            self.stats.add(pulled=int(done["pulled"]), seconds=done["seconds"], retries=done["retries"])

    def run_rollout(self, task: Task, config: RolloutConfig, *, run_id: str, rollout_id: str, task_dir: Path,
                    generation: int = 0, refinement_context: str = "", after=None,
                    spending: Spending | None = None) -> Trajectory:
        """eval.runs.solve's rollout runner: the rollout on a node; its trajectory written here, once. `after` runs
        on the node too (it checks a container task's end state in the rollout's container); the files it saves
        are written into `task_dir` here, before the trajectory. The model calls run on the node, so the task's
        `spending` counts the rollout's usage when it returns (a node does not stop at the task's cap)."""
        import ray

        remote = ray.remote(rollout_on_node).options(
            num_cpus=0, resources={self.config.resource: 1}, max_retries=self.config.retries, retry_exceptions=False,
            **self._placement(task.image, rollout_id),
        )
        ref = remote.remote(task.model_dump_json(), config.model_dump_json(), run_id, rollout_id, generation,
                            refinement_context, self.images.model_dump(), after)
        with self._lock:
            self._refs.add(ref)
        kept: dict[str, bytes] = {}
        try:
            traj_json, image, kept = ray.get(ref)
        except ray.exceptions.RayError as e:
            traj = Trajectory(task_id=task.instance_id, rollout_id=rollout_id, generation=generation,
                              model=config.model.id, config_digest=config.digest(),
                              refinement_context=refinement_context, exit_status="sandbox_error",
                              error=f"rollout lost on the cluster: {type(e).__name__}: {str(e)[-500:]}")
        else:
            traj = Trajectory.model_validate_json(traj_json)
            self.stats.add(pulled=int(image.get("pulled", False)), seconds=image.get("seconds", 0.0),
                           retries=image.get("retries", 0))
            with self._lock:
                holders = self._holders.setdefault(task.image, [])
                if image.get("node") and image["node"] not in holders:
                    holders.append(image["node"])
            LIMITS.record(traj.usage)  # the model calls ran on the node: the run's budget counts them here
            if spending is not None:
                spending.add(traj.usage)
        finally:
            with self._lock:
                self._refs.discard(ref)
        for name, data in kept.items():
            write_atomic(Path(task_dir) / name, data.decode())
        traj.save(TaskFiles(task_dir).trajectory(rollout_id))
        return traj
