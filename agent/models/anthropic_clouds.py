"""Claude on the cloud platforms, through the Anthropic SDK's own clients: Amazon Bedrock (`bedrock/<model id>`,
e.g. `bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0`) and Google Vertex AI (`vertex/<model>`, e.g.
`vertex/claude-sonnet-4-5@20250929`). The requests are the Messages API's (anthropic.py); only the client differs.

Bedrock takes a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) as it is; AWS credentials (keys, profile, role) sign
requests through botocore, the SDK's `bedrock` extra. Vertex takes an access token (GOOGLE_OAUTH_ACCESS_TOKEN) as
it is; Google's default credentials need google-auth, the SDK's `vertex` extra. Neither needs any other service.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from codescale.agent.models.anthropic import AnthropicProvider
from codescale.agent.models.base import ModelError
from codescale.agent.models.providers import Endpoint


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


class BedrockProvider(AnthropicProvider):
    """The Messages API on Amazon Bedrock (region from AWS_REGION or the AWS profile)."""

    def make_client(self, endpoint: Endpoint) -> Any:
        import anthropic

        if not endpoint.key and not installed("botocore"):
            raise ModelError(f"{self.config.id}: Bedrock needs a Bedrock API key in {endpoint.key_variable}, or AWS "
                             "credentials with boto3 installed: pip install 'anthropic[bedrock]'")
        try:
            return anthropic.AnthropicBedrock(api_key=endpoint.key, base_url=endpoint.base_url,
                                              timeout=self.config.timeout, max_retries=0)
        except ValueError as e:  # no region
            raise ModelError(f"{self.config.id}: {e}") from None


class VertexProvider(AnthropicProvider):
    """The Messages API on Google Vertex AI (CLOUD_ML_REGION, ANTHROPIC_VERTEX_PROJECT_ID)."""

    def make_client(self, endpoint: Endpoint) -> Any:
        import anthropic

        if not endpoint.key and not installed("google.auth"):
            raise ModelError(f"{self.config.id}: Vertex AI needs an access token in {endpoint.key_variable}, or "
                             "Google credentials with google-auth installed: pip install 'anthropic[vertex]'")
        if not os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID") and endpoint.key:
            raise ModelError(f"{self.config.id}: set ANTHROPIC_VERTEX_PROJECT_ID (the Google Cloud project)")
        try:
            return anthropic.AnthropicVertex(access_token=endpoint.key, base_url=endpoint.base_url,
                                             timeout=self.config.timeout, max_retries=0)
        except ValueError as e:  # no region
            raise ModelError(f"{self.config.id}: {e}") from None
