"""Resolve a pinned Hugging Face Hub reference to a local snapshot directory.

This release resolves from the local Hugging Face cache only (``local_files_only=True``): a
pinned commit found there needs no network. Downloading a missing snapshot is left to the
hub-sources capability; until then a missing snapshot is an error, never a silent pass.
"""

from __future__ import annotations

from pathlib import Path

from pytest_mlsupply.manifest.model import HubRef


class HubResolutionError(Exception):
    pass


def resolve_snapshot(ref: HubRef) -> Path:
    # Imported lazily: huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE at import time, and
    # test sessions that never touch the hub should not pay for (or freeze) that import.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(
            repo_id=ref.repo_id,
            repo_type=ref.repo_type,
            revision=ref.revision,
            local_files_only=True,
        )
    except LocalEntryNotFoundError:
        raise HubResolutionError(
            f"{ref.uri} is not in the local Hugging Face cache; download it first with "
            f"`hf download {ref.repo_id} --revision {ref.revision}"
            f"{' --repo-type dataset' if ref.repo_type == 'dataset' else ''}`"
        ) from None
    except Exception as exc:  # the client raises many types; any of them means "not resolved"
        raise HubResolutionError(f"{ref.uri} could not be resolved: {exc}") from None
    return Path(path)
