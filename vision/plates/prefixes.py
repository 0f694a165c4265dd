"""Area codes of agricultural plates (农用车 / 拖拉机: province, 2-digit area code, 5-digit serial).

The grammar accepts a tractor/agricultural read only when its province + area code is listed here:
"province + any seven digits" alone is too weak a format to trust.

Data: the province + two-digit prefixes of ``pyunit_plate/农用车牌.json`` in the ``pyunit-plate``
2020.6.17 wheel (PyPI; https://github.com/PyUnit/pyunit-plate), keys only (the city names are not
kept). Copyright (c) Jtyoui (jtyoui@qq.com), MIT Licence:

    Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
    associated documentation files (the "Software"), to deal in the Software without restriction,
    including without limitation the rights to use, copy, modify, merge, publish, distribute,
    sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions: The above copyright notice and this
    permission notice shall be included in all copies or substantial portions of the Software.
    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
    NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
    NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
    DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
    OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

from __future__ import annotations

_AGRICULTURAL_CODES = {
    "京": "01 02",
    "津": "01",
    "沪": "01",
    "渝": "01",
    "冀": "01 02 03 04 05 06 07 08 09 10 11",
    "豫": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18",
    "云": "01 03 04 05 06 07 08 09 23 25 26 28 29 31 33 34",
    "辽": "01 02 03 04 05 06 07 08 09 10 11 12 13 14",
    "黑": "01 02 03 04 05 06 07 08 09 10 11 12 14 16 27",
    "湘": "01 02 03 04 05 06 07 08 09 10 11 12 13 15",
    "皖": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20",
    "鲁": "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17",
    "新": "01 02 03 04 23 27 28 29 30 31 32 40 42 43",
    "苏": "01 02 03 04 05 06 07 08 09 10 11 12 13",
    "浙": "01 02 03 04 05 06 07 08 09 10 11",
    "赣": "01 02 03 04 05 06 07 08 09 10 11",
    "鄂": "01 02 03 05 06 07 08 09 10 11 12 13 15 16 17 18 25",
    "桂": "01 02 03 04 05 06 07 08 09 10 11 12 13 14",
    "甘": "01 02 03 04 05 06 07 08 09 10 11 12 13 14",
    "晋": "01 02 03 04 05 06 07 08 09 10 11",
    "蒙": "01 02 03 04 05 06 07 08 09 22 25 29",
    "陕": "01 02 03 04 05 06 07 08 09 10",
    "吉": "01 02 03 04 05 06 07 08 24",
    "闽": "01 02 03 04 05 06 07 08 09",
    "贵": "01 02 03 04 05 06 07 08 09 10",
    "粤": "01 02 03 04 05 06 07 08 09 12 13 14 15 16 17 18 19 20 51 52 53",
    "青": "01 02 03 04 05 06 07 08",
    "藏": "01 02 03 04 05 06 07",
    "川": "01 03 04 05 06 07 08 09 10 11 13 15 16 17 18 19 20 32 33 34 38",
    "宁": "01 02 03 04 05",
    "琼": "01 02 03",
}

AGRICULTURAL_PREFIXES: frozenset[str] = frozenset(
    province + code for province, codes in _AGRICULTURAL_CODES.items() for code in codes.split()
)
