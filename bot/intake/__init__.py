"""What an incoming event meets before a feature sees it: each event handled once (`deliveries`),
flood protection (`flood`), the refusals an adapter detects itself (`notices`), and the
message a reply is about (`anchors`).

May import: `bot.messages` and the frame's value modules (`clock`, `config`, `i18n`), and
storage.
"""
