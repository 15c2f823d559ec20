/**
 * The most characters a regular expression needs around one match: the match itself plus what its
 * positive lookarounds and boundary assertions read (negative lookarounds: see group()). Infinity
 * when a quantifier is unbounded.
 * The engine uses it to run a rule only within that distance of its keywords (see engine.ts).
 * Handles the syntax the detector files use (ES2018+: classes, groups, named groups, lookarounds,
 * backreferences, {n,m} quantifiers); anything it cannot read counts as Infinity.
 */
export function maxExtent(source: string): number {
  const groups: number[] = [];
  const named = new Map<string, number>();
  let pos = 0;

  const fail = (): never => {
    throw new Error('unparsed');
  };

  function alternation(): number {
    let best = sequence();
    while (source[pos] === '|') {
      pos++;
      best = Math.max(best, sequence());
    }
    return best;
  }

  function sequence(): number {
    let total = 0;
    while (pos < source.length && source[pos] !== '|' && source[pos] !== ')') {
      const atomLength = atom();
      total += quantified(atomLength);
    }
    return total;
  }

  function quantified(length: number): number {
    const c = source[pos];
    let times = 1;
    if (c === '*' || c === '+') {
      pos++;
      times = Infinity;
    } else if (c === '?') {
      pos++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(pos));
      if (m) {
        pos += m[0].length;
        times = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      }
    }
    if (times !== 1 && source[pos] === '?') pos++; // lazy
    if (length === 0) return 0;
    return times === Infinity ? Infinity : length * times;
  }

  function atom(): number {
    const c = source[pos]!;
    if (c === '(') return group();
    if (c === '[') {
      pos++;
      if (source[pos] === '^') pos++;
      if (source[pos] === ']') pos++;
      while (pos < source.length && source[pos] !== ']') pos += source[pos] === '\\' ? 2 : 1;
      if (pos >= source.length) fail();
      pos++;
      return 1;
    }
    if (c === '\\') return escape();
    pos++;
    // Assertions read the character on each side: count one, to stay on the safe side.
    if (c === '^' || c === '$') return 1;
    return 1;
  }

  function escape(): number {
    const c = source[pos + 1];
    if (c === undefined) fail();
    pos += 2;
    if (c === 'b' || c === 'B') return 2;
    if (c === 'k') {
      const m = /^<([A-Za-z_$][\w$]*)>/.exec(source.slice(pos));
      if (!m) fail();
      pos += m![0].length;
      return named.get(m![1]!) ?? Infinity;
    }
    if (c! >= '1' && c! <= '9') {
      const m = /^\d*/.exec(source.slice(pos))!;
      pos += m[0].length;
      return groups[Number(c + m[0]) - 1] ?? Infinity;
    }
    if (c === 'u' && source[pos] === '{') {
      const end = source.indexOf('}', pos);
      if (end === -1) fail();
      pos = end + 1;
    } else if (c === 'u') pos += 4;
    else if (c === 'x') pos += 2;
    else if (c === 'c') pos += 1;
    else if ((c === 'p' || c === 'P') && source[pos] === '{') {
      const end = source.indexOf('}', pos);
      if (end === -1) fail();
      pos = end + 1;
    }
    return 1;
  }

  function group(): number {
    pos++; // (
    let name: string | null = null;
    let capturing = true;
    let negative = false;
    if (source[pos] === '?') {
      capturing = false;
      const rest = source.slice(pos);
      const m = /^\?(?::|=|!|<=|<!|<([A-Za-z_$][\w$]*)>)/.exec(rest);
      if (!m) fail();
      pos += m![0].length;
      negative = m![0] === '?!' || m![0] === '?<!';
      if (m![1]) {
        name = m![1];
        capturing = true;
      }
    }
    const index = capturing ? groups.push(Infinity) - 1 : -1;
    const length = alternation();
    if (source[pos] !== ')') fail();
    pos++;
    if (index >= 0) groups[index] = length;
    if (name !== null) named.set(name, length);
    // Positive lookarounds must find their text inside a region: their extent adds to the match's.
    // A negative one only ever passes more often on a cut-out region (it sees less), and every
    // region match is confirmed against the whole buffer, so it needs no room.
    return negative ? 0 : length;
  }

  try {
    const length = alternation();
    if (pos !== source.length) return Infinity;
    return length;
  } catch {
    return Infinity;
  }
}
