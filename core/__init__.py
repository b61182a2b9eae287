"""The lower layer every leadscore package may use: errors, config loading, the one definition of
a lead and of an answer (`core.schema`), the one validation of a sales decision (`core.decisions`),
the store's tables (`core.tables`) and the decision store and score log (`core.store`)."""
