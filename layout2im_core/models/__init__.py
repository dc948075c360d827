"""Networks of Layout2Im (spec §4, §5), one file each; ``generator.Generator`` composes them."""
