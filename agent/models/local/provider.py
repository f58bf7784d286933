"""`local/<name>`: a small model shipped in PyPI packages, served on the CPU by llama.cpp.

Without a base_url the provider talks to the process's shared server for <name>, started on the
first call and stopped at exit (server.py); with one (e.g. from `codescale serve-local`) it talks to
that server. Requests are plain OpenAI chat completions.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from codescale.agent.models.base import ModelConfig, ModelError
from codescale.agent.models.catalog import model_info
from codescale.agent.models.local.package import ModelPackageError, local_model, model_file
from codescale.agent.models.local.server import LocalServerError, llama_cpp_installed, shared_server
from codescale.agent.models.openai import OpenAIProvider
from codescale.agent.models.providers import Endpoint


class LocalProvider(OpenAIProvider):
    """OpenAIProvider against the local server; the model file is joined and checked up front, so that
    a missing package or a wrong sha256 fails the preflight instead of every rollout."""

    def __init__(self, config: ModelConfig, notes: list[str], endpoint: Endpoint):
        try:
            row = local_model(config.name)
            if not config.base_url:
                if not llama_cpp_installed():
                    raise ModelPackageError(f'{config.id} needs llama-cpp-python: pip install -e ".[local]"')
                model_file(row)
        except ModelPackageError as e:
            raise ModelError(str(e)) from None
        self.config = config
        self.info = model_info(config.id)
        self.notes = notes
        self.endpoint = endpoint
        self.client = None
        self.server = None
        self._connect_lock = threading.Lock()

    def connect(self) -> None:
        """Build the OpenAI client, starting the shared server first when no base_url was given."""
        with self._connect_lock:
            if self.client is not None:
                return
            endpoint = self.endpoint
            if not endpoint.base_url:
                try:
                    self.server = shared_server(self.config.name)
                    endpoint = replace(endpoint, base_url=self.server.base_url)
                except (ModelPackageError, LocalServerError) as e:
                    raise ModelError(f"{self.config.id}: {e}") from None
            super().__init__(self.config, self.notes, endpoint)

    def server_window(self) -> int | None:
        """What a server given by base_url says, else the `n_ctx` the row of configs/local.yaml starts its server with
        (llama-cpp-python's server says nothing of its window)."""
        said = None
        if self.config.base_url:
            self.connect()
            said = super().server_window()
        window = said or local_model(self.config.name).server.get("n_ctx")
        return int(window) if window else None

    def call(self, kwargs: dict[str, Any]) -> Any:
        """One request; when the server we started has died, the error says why (not worth retrying)."""
        self.connect()
        try:
            return super().call(kwargs)
        except ModelError:
            process = self.server.process if self.server else None
            if process is not None and process.poll() is not None:
                raise ModelError(f"{self.config.id}: {self.server.died()}") from None
            raise
