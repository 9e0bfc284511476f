-- luacheck (Debian: lua-check), run by tests/editors/test_neovim.py: `luacheck .` here.
-- Line layout is StyLua's (stylua.toml), so line length is not luacheck's concern.
std = "luajit"
globals = { "vim" }
max_line_length = false
exclude_files = { "node_modules/" }
