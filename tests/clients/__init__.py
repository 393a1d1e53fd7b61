"""Third-party IRC clients against a real node, over real sockets.

irc-framework (the Node.js library of Kiwi IRC and The Lounge, driven by
``ircframework/driver.mjs``), WeeChat (headless, through its FIFO and its
logs) and irssi (in tmux, ``irssi.py``) each connect to a ``chatnet-node``
process named ``irc.example.org`` and the tests assert what each client
parsed or shows: MONITOR and notify lists, WHOX, multiline, read markers,
the server's name, LUSERS and WHOIS.
"""
