python3 -m herbmorph.oscar.handler segment
