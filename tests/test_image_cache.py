"""Task images under a disk bound: a batch of bundled tasks whose images do not all fit, built on a base image
tag of this test's own (the `own_base` fixture, so that only images made here are ever removed)."""

from __future__ import annotations

import threading
import time

import pytest
from fake_server import FakeServer
from test_batch import batch

from codescale.eval.tasks.bundled import SUITE_DIR
from codescale.eval.tasks.images import suite_image

TASKS = ["codescale__confkit-1", "codescale__eventbus-1", "codescale__memo-1", "codescale__thermo-1"]


def submit_at_once(body: dict) -> str:
    return "Nothing to do.\n```bash\necho CODESCALE_SUBMIT\n```"


def present(docker_client, images: list[str]) -> list[str]:
    return [i for i in images if docker_client.api.images(name=i, quiet=True)]


@pytest.mark.slow
def test_images_present_never_exceed_the_bound_plus_those_in_use(docker_client, own_base, tmp_path):
    images = [suite_image(SUITE_DIR / t, own_base) for t in TASKS]
    size = docker_client.images.get(own_base).attrs["Size"]  # each task image is a little larger
    bound_gb = 1.5 * size / 1e9  # room for one task image, not two
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(len(present(docker_client, images)))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with FakeServer(responder=submit_at_once) as server:
            done = batch(tmp_path / "run", server, "--dataset", "codescale", "--ids", ",".join(TASKS),
                         "--base-image", own_base, "--image-cache-gb", f"{bound_gb:.3f}", "--pull-ahead", "1")
    finally:
        stop.set()
        watcher.join()
    assert done.returncode == 0, done.stderr
    assert "images 4 pulled" in done.stderr and "3 evicted" in done.stderr, done.stderr[-600:]
    assert max(seen) <= 2  # the bound's one, and the one the running task holds
    assert len(present(docker_client, images)) == 1  # the last task's, kept: it fits


@pytest.mark.slow
def test_finished_tasks_images_are_removed_when_asked(docker_client, own_base, tmp_path):
    images = [suite_image(SUITE_DIR / t, own_base) for t in TASKS[:2]]
    with FakeServer(responder=submit_at_once) as server:
        done = batch(tmp_path / "run", server, "--dataset", "codescale", "--ids", ",".join(TASKS[:2]),
                     "--base-image", own_base, "--remove-images", "--pull-ahead", "0")
    assert done.returncode == 0, done.stderr
    assert present(docker_client, images) == []


@pytest.mark.slow
def test_an_image_pulled_ahead_outlasts_an_older_finished_one(docker_client, own_base):
    """The image of the next task, made present before the current task's, is not evicted when the current task
    finishes, although the current task's image is the more recently used: it would only be made again."""
    from codescale.eval.tasks.image_cache import ImageCache, ImageCacheConfig
    from codescale.eval.tasks.load import suite_task

    current, following = (suite_task(t, own_base) for t in TASKS[:2])
    size = docker_client.images.get(own_base).attrs["Size"]
    cache = ImageCache(ImageCacheConfig(cache_gb=1.5 * size / 1e9, pull_ahead=1), client=docker_client)
    try:
        cache.prefetch([following])
        cache.close()  # waits for the pull ahead
        assert present(docker_client, [following.image]) == [following.image]
        cache.acquire(current)  # made present after the one pulled ahead, so used more recently
        cache.release(current.image)
        assert present(docker_client, [current.image, following.image]) == [following.image]
        cache.acquire(following)
        cache.release(following.image)
        assert (cache.stats.pulled, cache.stats.evicted) == (2, 1)
    finally:
        cache.close()


@pytest.mark.slow
def test_an_eviction_waiting_for_container_removals_holds_up_no_other_task(docker_client, own_base):
    """An eviction first waits for the containers being removed in the background (so that none holds the image);
    meanwhile other tasks take and give back their images without waiting for it, and no image is pulled ahead
    into the room the evicted one still takes."""
    from codescale.eval.tasks.image_cache import ImageCache, ImageCacheConfig
    from codescale.eval.tasks.load import suite_task
    from codescale.sandboxes.lifecycle import REMOVALS

    first, second, third = (suite_task(t, own_base) for t in TASKS[:3])
    size = docker_client.images.get(own_base).attrs["Size"]
    cache = ImageCache(ImageCacheConfig(cache_gb=1.5 * size / 1e9), client=docker_client)
    cache.acquire(first)
    cache.acquire(second)  # both in use: the bound counts neither
    slow_removal = threading.Event()
    REMOVALS.submit(slow_removal.wait, 60)  # a container removal that takes its time
    evicting = threading.Thread(target=cache.release, args=(second.image,))
    try:
        cache.release(first.image)  # idle and alone within the bound: kept
        evicting.start()  # second idle too: over the bound, so first (used longer ago) is evicted
        deadline = time.monotonic() + 30
        while first.image in cache.sizes and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.image not in cache.sizes and evicting.is_alive(), "the eviction did not start"
        cache.acquire(second)  # another task, while the eviction waits
        assert cache.prefetch_one(third) is None  # the evicted image is still on the disk
        cache.release(second.image)
        assert evicting.is_alive(), "the eviction no longer waited for the removal"
    finally:
        slow_removal.set()
        evicting.join(60)
    assert present(docker_client, [first.image, second.image, third.image]) == [second.image]
    assert cache.stats.evicted == 1
    assert cache.evicting == {}  # gone from the disk: no longer held against a pull ahead
