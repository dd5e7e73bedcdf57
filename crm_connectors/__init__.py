"""CRM connections: the sync engine, webhooks, writeback and one package per CRM behind one interface.

What lives where, in layers (a module imports only from its own layer or the ones listed before it):

1. Shapes and helpers, no database: `base` (the Connector ABC and its `features`, page/record shapes),
   `webhook_types`, `webhook_limits`, `http` (the one HTTP client), `page_batch`, `prefetch`.
2. `models`, `fields`, `selectors`, `reconcile`, `schedules` (beat entries; the sync-queue task names),
   `signals` (`records_changed` and its one sender).
3. `registry`: the one table of CRM kinds -> connector classes, and through them their webhook modules
   (`webhook_handler(kind)`). The CRM packages (`csv/`, `hubspot/`, `salesforce/`, `pipedrive/`: connector,
   client, mapping, webhook, writeback) register here and import only layers 1-3.
4. `connections`: `connector_open(connection)`, the one way to build, wire and close a connector.
5. Engines and services: `sync`, `webhook_processing`, `writeback`, `outbox`, `webhooks` (verify, store,
   enqueue; `hubspot/app_webhooks.py` beside it), `services`, `rescoring` (-> ml).
6. Entry points: `tasks`, `webhook_views`, `urls`, `admin`, `apps`, `management/commands`; nothing else imports
   them (tasks are sent by name).

There are no import circles inside the package. It imports `salesai.core` and only `ml`'s public surface
(signals, selectors, models, `scoring_enqueue`); neither imports it back (import-linter, `make lint`).
"""
