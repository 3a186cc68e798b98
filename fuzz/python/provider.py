"""A byte-driven source of choices for the harnesses' generators (like atheris'
``FuzzedDataProvider``, but plain Python so ``--replay`` runs without atheris): it reads the
input front to back, and past the end every choice is 0."""


class Provider:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def int(self, bound):
        """0 <= n < bound (one byte for bounds up to 256, more beyond)."""
        if bound <= 1:
            return 0
        value, span = 0, 1
        while span < bound:
            value = value << 8 | self.byte()
            span <<= 8
        return value % bound

    def pick(self, items):
        return items[self.int(len(items))]

    def unsigned(self, bits):
        value = 0
        for _ in range((bits + 7) // 8):
            value = value << 8 | self.byte()
        return value & ((1 << bits) - 1)

    def signed(self, bits):
        """A number of up to `bits` bits, either sign, mostly small."""
        width = self.int(bits + 1)
        value = self.unsigned(width)
        return -value if self.byte() & 1 else value

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk

    def rest(self):
        return self.take(len(self.data))
