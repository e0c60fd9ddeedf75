"""The baseline bots of the crowd and start-up benchmarks: python-telegram-bot as its tutorials
write a bot, with the library's defaults and one handler each. Per press: the callback answered,
one insert+commit, one edit (the answered statement) and one send (the next one).

Nothing of assessbot is imported here, so a process running only this bot measures the library.
"""

from __future__ import annotations

import asyncio
import sys
import threading

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert

SCALE = [str(n) for n in range(1, 8)]


def press_table(name: str, where: str, database_url: str) -> tuple[Table, Engine]:
    """The one table a minimal bot writes each press to (`where`: the chat or channel), created."""
    table = Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column(where, String(32)),
        Column("value", String(8)),
    )
    engine = create_engine(database_url)
    table.metadata.create_all(engine)
    return table, engine


def minimal_bot(token: str, url: str, database_url: str, up: threading.Event, stop: threading.Event) -> None:
    """Serve until `stop` is set; `up` is set once it polls."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    table, engine = press_table("minimal_press", "chat", database_url)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=label) for label in SCALE]])

    async def on_assess(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Statement 1", reply_markup=markup)

    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.message is not None
        await query.answer()
        with engine.begin() as connection:
            connection.execute(insert(table).values(chat=str(query.message.chat.id), value=query.data))
        await query.edit_message_text(f"Answered: {query.data}")
        await context.bot.send_message(query.message.chat.id, "The next statement", reply_markup=markup)

    async def main() -> None:
        application = (
            Application.builder().token(token).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot").build()
        )
        application.add_handler(CommandHandler("assess", on_assess))
        application.add_handler(CallbackQueryHandler(on_press))

        async def on_error(_update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
            pass  # a press it failed to answer (a 429 it does not wait out) shows as unanswered

        application.add_error_handler(on_error)
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(timeout=5)
            up.set()
            while not stop.is_set():
                await asyncio.sleep(0.1)
            await application.updater.stop()
            await application.stop()

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


def main() -> None:
    """A process of its own (bench/startup.py): `python -m bench.minimal_bot TOKEN URL DATABASE_URL`."""
    token, url, database_url = sys.argv[1:4]
    stop = threading.Event()

    # It stops when its parent closes its stdin (or goes away).
    def watch() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    minimal_bot(token, url, database_url, threading.Event(), stop)


if __name__ == "__main__":
    main()
