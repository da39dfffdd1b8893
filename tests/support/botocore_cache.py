"""botocore's models and client classes made once per test process instead of once per test.

Every test makes its own Aws, so its own boto3 Session: each new Session re-reads botocore's JSON
models, and each client it makes builds a new client class (EC2's has ~750 methods, each with its
operation model: ~0.05 s). A test that reaches the region step makes 20 EC2 clients, one a region,
and that bookkeeping was about a second of CPU per test, more than the moto calls themselves.

The app makes one Session per run, so only the tests pay this. Sharing it keeps every real part:
the same models, the same client class per service, a new client with its own region, config and
event hooks per Aws. What a test registers on its session (botocore hooks) never reaches the
loader or the class, so nothing leaks from one test to the next.
"""

from __future__ import annotations

from typing import Any

import botocore.client
import botocore.loaders
import botocore.session


class _SearchPaths(list[str]):
    """boto3 appends its own data folder to the loader of every new Session: once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def share_botocore_models() -> None:
    """One loader (its parsed JSON cached) and one client class per service, for every Session."""
    shared = botocore.loaders.create_loader()
    shared._search_paths = _SearchPaths(shared.search_paths)
    create_loader = botocore.loaders.create_loader

    def loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        # AWS_DATA_PATH (the session's data_path) adds model folders: such a session gets its own.
        return shared if not search_path_string else create_loader(search_path_string)

    botocore.session.create_loader = loader  # what Session._register_data_loader calls

    make_class = botocore.client.ClientCreator._create_client_class
    classes: dict[tuple[str, str], type] = {}

    def client_class(self: botocore.client.ClientCreator, service_name: str, service_model: Any) -> type:
        key = (service_name, service_model.api_version)
        if key not in classes:
            classes[key] = make_class(self, service_name, service_model)
        return classes[key]

    botocore.client.ClientCreator._create_client_class = client_class  # type: ignore[method-assign]
