"""The REST API (`/api/v1/`): DRF views, serializers, organisation-scoped permissions, pagination, the
machine-readable error format, edge limits (body size, JSON depth, NUL), throttles, OpenAPI schema.

May import: `salesai.core`, the services and selectors of `crm_connectors`, `ml` and `salesai.privacy`;
views parse input, call one service or selector and format output.
"""
