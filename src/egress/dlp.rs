//! DLP: secrets that must not leave the bottle.
