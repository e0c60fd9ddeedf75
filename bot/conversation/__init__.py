"""One person's own conversation: taking an assessment (`assessment`, with `quick_answer` for the
commonest press and `last_time` offering the previous background answers), what a closed round
still allows (`closed_rounds`), making an anonymous response unlinkable on completion
(`anonymity`), the state at a glance (`home`), everyone's commands (`self_service`) and forget-me
beyond the person's own rows (`erasure`).

May import: the frame, `bot.intake`, `bot.directory`, `bot.results`, and
`bot.administration.invitations` (joining a unit enrols the person in its open rounds).
"""
