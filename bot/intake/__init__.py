"""What an incoming event meets before a feature sees it: each event handled once
(`processed_events`), flood protection (`flood`), the refusals an adapter detects itself
(`notices`), and the message a reply is about (`anchors`).

May import: the frame's value modules (`messages`, `clock`, `config`, `i18n`) and `storage`.
"""
