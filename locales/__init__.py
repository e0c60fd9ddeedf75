"""Gettext catalogs (`<locale>/LC_MESSAGES/messages.po`), compiled in memory by bot.i18n."""
