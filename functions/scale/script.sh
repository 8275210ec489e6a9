python3 -m herbmorph.oscar.handler scale
