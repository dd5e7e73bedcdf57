"""The manager UI (`/app/`): server-rendered Django templates over the selectors of `salesai.core`,
`crm_connectors` and `ml`; writes go through their services. Vendored static assets, never a CDN."""
