"""The lower layer every leadscore package may use: errors, config loading, the one definition of
a lead and of an answer (`core.schema`), and the decision store and score log (`core.store`)."""
