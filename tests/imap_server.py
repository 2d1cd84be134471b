"""A small IMAP4rev1 server for tests: the real wire protocol over asyncio on 127.0.0.1, mail held in memory.

It speaks what `ImapPoller` needs and answers the way RFC 3501 says: CAPABILITY, LOGIN, SELECT, UID SEARCH,
UID FETCH (RFC822, BODY[], BODY.PEEK[]; the first two set \\Seen as a real server does), UID STORE, NOOP and
LOGOUT, with literals (`{n}\\r\\n` then n bytes) both ways. One mailbox, one user."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

_LITERAL = re.compile(rb"\{(\d+)(\+?)\}$")


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


class ImapTestServer:
    def __init__(self, *, user: str, password: str, folder: str = "INBOX") -> None:
        self.user = user
        self.password = password
        self.folder = folder
        self.messages: list[StoredMessage] = []
        self.commands: list[str] = []  # every command line received, for asserting what a client sent
        self._next_uid = 101  # not 1, so a client mixing up sequence numbers and UIDs is caught
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "ImapTestServer not started"
        return int(self._server.sockets[0].getsockname()[1])

    def add(self, raw: bytes, *flags: str) -> int:
        uid, self._next_uid = self._next_uid, self._next_uid + 1
        self.messages.append(StoredMessage(uid, raw, set(flags)))
        return uid

    def flags(self, uid: int) -> set[str]:
        return next(m.flags for m in self.messages if m.uid == uid)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state = {"authenticated": False, "selected": False}
        writer.write(b"* OK [CAPABILITY IMAP4rev1] test server ready\r\n")
        try:
            while (command := await _read_command(reader, writer)) is not None:
                if len(command) < 2:
                    writer.write(b"* BAD missing tag or command\r\n")
                    continue
                self.commands.append(" ".join(command))
                tag, verb, args = command[0], command[1].upper(), command[2:]
                if verb == "UID" and args:
                    verb, args = f"UID {args[0].upper()}", args[1:]
                out = self._answer(tag, verb, args, state)
                writer.write(out)
                await writer.drain()
                if verb == "LOGOUT":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _answer(self, tag: str, verb: str, args: list[str], state: dict[str, bool]) -> bytes:
        def done(status: str = "OK", text: str = "completed") -> bytes:
            return f"{tag} {status} {verb} {text}\r\n".encode()

        if verb == "CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 LITERAL+\r\n" + done()
        if verb == "NOOP":
            return done()
        if verb == "LOGOUT":
            return b"* BYE logging out\r\n" + done()
        if verb == "LOGIN":
            if args == [self.user, self.password]:
                state["authenticated"] = True
                return done()
            return done("NO", "[AUTHENTICATIONFAILED] invalid credentials")
        if not state["authenticated"]:
            return done("BAD", "not authenticated")
        if verb == "SELECT":
            if args != [self.folder]:
                return done("NO", "[NONEXISTENT] no such mailbox")
            state["selected"] = True
            return (
                "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n"
                f"* {len(self.messages)} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n"
                f"* OK [UIDNEXT {self._next_uid}] next\r\n"
                f"{tag} OK [READ-WRITE] SELECT completed\r\n"
            ).encode()
        if not state["selected"]:
            return done("BAD", "no mailbox selected")
        if verb == "UID SEARCH":
            criteria = " ".join(args).upper()
            if criteria not in ("UNSEEN", "ALL"):
                return done("BAD", f"unsupported criteria {criteria}")
            hits = [m.uid for m in self.messages if criteria == "ALL" or "\\Seen" not in m.flags]
            return f"* SEARCH{''.join(f' {uid}' for uid in hits)}\r\n".encode() + done()
        if verb == "UID FETCH" and len(args) == 2:
            return self._fetch(args[0], args[1]) + done()
        if verb == "UID STORE" and len(args) == 3:
            return self._store(args[0], args[1], args[2]) + done()
        return done("BAD", "unknown or malformed command")

    def _fetch(self, uid_set: str, items: str) -> bytes:
        wanted = items.strip("()").upper().split()
        out = b""
        for number, message in self._matching(uid_set):
            parts = [f"UID {message.uid}".encode()]
            for item in wanted:
                if item in ("RFC822", "BODY[]", "BODY.PEEK[]"):
                    if item != "BODY.PEEK[]":
                        message.flags.add("\\Seen")  # RFC 3501 6.4.5: fetching the body sets \Seen
                    name = "RFC822" if item == "RFC822" else "BODY[]"
                    parts.append(f"{name} {{{len(message.raw)}}}\r\n".encode() + message.raw)
                elif item == "FLAGS":
                    parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
            if any(i in ("RFC822", "BODY[]") for i in wanted) and "FLAGS" not in wanted:
                parts.append(f"FLAGS ({' '.join(sorted(message.flags))})".encode())
            out += f"* {number} FETCH (".encode() + b" ".join(parts) + b")\r\n"
        return out

    def _store(self, uid_set: str, action: str, flag_list: str) -> bytes:
        flags = set(flag_list.strip("()").split())
        out = b""
        for number, message in self._matching(uid_set):
            if action.upper().startswith("+FLAGS"):
                message.flags |= flags
            elif action.upper().startswith("-FLAGS"):
                message.flags -= flags
            else:
                message.flags = set(flags)
            if not action.upper().endswith(".SILENT"):
                current = " ".join(sorted(message.flags))
                out += f"* {number} FETCH (UID {message.uid} FLAGS ({current}))\r\n".encode()
        return out

    def _matching(self, uid_set: str) -> list[tuple[int, StoredMessage]]:
        highest = max((m.uid for m in self.messages), default=0)
        uids: set[int] = set()
        for piece in uid_set.split(","):
            low, _, high = piece.partition(":")
            start = highest if low == "*" else int(low)
            end = start if not high else highest if high == "*" else int(high)
            uids.update(range(min(start, end), max(start, end) + 1))
        return [(n, m) for n, m in enumerate(self.messages, start=1) if m.uid in uids]


async def _read_command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[str] | None:
    """One command as tokens; a literal `{n}` at a line's end is read as the next n bytes (one token)."""
    tokens: list[str] = []
    while True:
        line = await reader.readline()
        if not line:
            return None
        line = line.rstrip(b"\r\n")
        literal = _LITERAL.search(line)
        tokens += _tokenize(line[: literal.start()] if literal else line)
        if literal is None:
            return tokens
        if not literal.group(2):  # a synchronising literal waits for our go-ahead; LITERAL+ does not
            writer.write(b"+ Ready for literal data\r\n")
            await writer.drain()
        tokens.append((await reader.readexactly(int(literal.group(1)))).decode("utf-8", "replace"))


def _tokenize(line: bytes) -> list[str]:
    """Atoms, "quoted strings" (unescaped) and (parenthesised lists) kept whole; `[...]` may hold spaces."""
    text = line.decode("utf-8", "replace")
    tokens: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == " ":
            index += 1
        elif char == '"':
            end, chars = index + 1, []
            while end < len(text) and text[end] != '"':
                if text[end] == "\\" and end + 1 < len(
                    text
                ):  # \" and \\ stand for the character after the backslash
                    end += 1
                chars.append(text[end])
                end += 1
            tokens.append("".join(chars))
            index = end + 1
        else:
            end, depth = index, 0
            while end < len(text) and (depth or text[end] != " "):
                if text[end] in "([":
                    depth += 1
                elif text[end] in ")]":
                    depth -= 1
                end += 1
            tokens.append(text[index:end])
            index = end
    return tokens
