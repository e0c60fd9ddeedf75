"""The platform-free core of assessbot.

The modules of this package are the frame: `engine` routes every incoming event to the feature that
handles it (and is the only place that decides so), `runtime` and `cli` start things, and
`messages`, `commands`, `permissions`, `config`, `clock`, `i18n`, `free_text`, `audit`,
`log_redaction` and `outbox` are what every part shares. The features live in sub-packages, each
saying in its docstring what it holds and what it may import: `intake` (before a feature sees an
event), `directory` (people and instruments), `conversation` (one person's assessment),
`results` (personal and unit results), `follow_up` (reminders, action plans, the scheduler) and
`administration` (admin commands). The frame's shared modules import only the frame and `directory`.
"""
