"""A fake Foundry cloud: a test double of the three services the Foundry Local runtime downloads models from.

The real, in-process runtime (``foundry-local-sdk``) lists, downloads, caches, loads and chats through it, offline:

* **catalog** (plain http): the asset-gallery ``POST .../asset-gallery/v1.0/models`` with the runtime's filters
  (device/EP, ``labels = latest``, alias, name, archived, deployment option) and ``continuationToken`` paging.
  Point the runtime at it with ``Configuration(catalog_urls=[(cloud.catalog_url, None)])``.
* **model registry** (https with a throwaway CA): ``GET https://{region}.api.azureml.ms/modelregistry/...`` →
  ``{"blobSasUri": ...}``. The runtime splices ``catalog_region`` into that host as is, so
  ``catalog_region=cloud.region`` (``"127.0.0.1:PORT/r?region="``) aims it at the local server; the runtime's
  libcurl trusts the CA when ``SSL_CERT_FILE=cloud.ca_file`` is in its environment. This relies on string
  concatenation inside the runtime: a test technique, not a supported configuration.
* **blob store** (plain http): Azure ``List Blobs`` XML, ``HEAD`` and ranged ``GET`` (``x-ms-range``) answered 206.

CPU variants of a few aliases are backed by the real tiny ONNX model (:mod:`foundry_tui.devtools.tiny_model`), so
a download loads and chats; everything else is a placeholder whose download answers 404. ``cloud.knobs`` injects
faults and pacing (slow chunks, failures after N chunks, 403 with or without a body, a dead catalog) and
``cloud.requests`` records every request for asserts.

Usage::

    with FakeCloud(tmp_path) as cloud:
        env = {**os.environ, **cloud.env()}       # FOUNDRY_TUI_CATALOG_URL / _REGION, SSL_CERT_FILE
        cloud.knobs.blob_delay_s = 0.05
        ...
        cloud.chunks_served

CLI: ``python -m foundry_tui.devtools.fake_cloud [--workdir DIR] [--catalog-port N] [--blob-delay S]``.
"""

from foundry_tui.devtools.fake_cloud.catalog_data import CloudModel, default_catalog
from foundry_tui.devtools.fake_cloud.server import CloudKnobs, FakeCloud, RequestLog

__all__ = ["CloudKnobs", "CloudModel", "FakeCloud", "RequestLog", "default_catalog"]
