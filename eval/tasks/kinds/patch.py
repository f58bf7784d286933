"""The patch kind: a SWE-bench style task. The agent changes a repository; the outcome is the diff from the base
commit, graded by the official swebench harness (FAIL_TO_PASS and PASS_TO_PASS) in the task's image."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from codescale.eval.tasks import bundled, images
from codescale.eval.tasks.errors import TaskError
from codescale.eval.tasks.kinds.base import GradeJob, TaskKind


class PatchTask(TaskKind):
    """A repository at `base_commit` in `image` (at `workdir`), an issue, and hidden tests that judge the patch."""

    kind: Literal["patch"] = "patch"
    difficulty: str = ""
    """How hard the task is judged (`easy`, `medium`, `hard`; the bundled suite's, where given)."""
    base_image: str = ""
    """For a bundled task: the base image its image is built on (its tag is named by content on it)."""

    def make_image(self, client) -> bool:
        """A bundled task's image is built (once per content); any other is pulled. Whether it was made now."""
        import docker

        task_dir = bundled.SUITE_DIR / self.instance_id
        if self.base_image and (task_dir / "task.yaml").is_file() and images.suite_image(task_dir, self.base_image) == self.image:
            return images.build_suite_image(task_dir, self.base_image, client)[1]
        repository, _, tag = self.image.rpartition(":") if ":" in self.image.rsplit("/", 1)[-1] else (self.image, "", "")
        try:
            client.images.pull(repository, tag=tag or "latest")
        except docker.errors.APIError as e:
            reason = getattr(e, "explanation", None) or str(e)
            raise TaskError(self.instance_id, "image",
                            f"image {self.image!r} does not exist locally and could not be pulled ({reason}); make it "
                            f"present (`docker pull {self.image}`, or `docker build -t {self.image} ...`), or name "
                            "another in the task's `image`") from None
        return True

    def check_gradable(self) -> None:
        """Raise TaskError naming the first field the swebench harness would need but this task lacks."""
        if not self.FAIL_TO_PASS:
            raise TaskError(self.instance_id, "FAIL_TO_PASS", "empty: nothing would show that a patch resolves the task")
        if not self.image:
            raise TaskError(self.instance_id, "image", "no image given (the harness grades inside the task's image)")
        if not self.eval_script and not self.test_patch:
            raise TaskError(self.instance_id, "test_patch", "missing, and no eval_script given to run the tests")
        if self.workdir != images.WORKDIR:
            raise TaskError(self.instance_id, "workdir", f"is {self.workdir!r}; the harness applies patches in /testbed")

    @classmethod
    def grade(cls, jobs: list[GradeJob], log_dir: Path, workers: int, timeout: int, graded=None) -> list:
        """The harness on every job's patch (each distinct one once), `workers` at a time, after every task was
        checked and its image made present."""
        from codescale.eval.tasks.grading import grade_patches, require_harness
        from codescale.eval.tasks.kinds import ensure_images

        require_harness("grading (codescale evaluate, the demo in Docker)")
        tasks = list({job.task.instance_id: job.task for job in jobs}.values())
        for task in tasks:
            task.check_gradable()
        ensure_images(tasks, workers)
        return grade_patches([(job.task, job.patch) for job in jobs], log_dir, workers, timeout, graded)
