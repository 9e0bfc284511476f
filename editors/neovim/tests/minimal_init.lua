-- Minimal, hermetic init for the headless test suite: only this plugin on 'runtimepath'.
-- Run: nvim --headless -u tests/minimal_init.lua -c "lua require('swictation_test').run('tests/spec/config_spec.lua')"
-- (tests/run.sh and tests/editors/test_neovim.py set the throwaway XDG_* dirs around it.)
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.opt.runtimepath:append(root .. "/tests")
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
vim.opt.more = false
vim.g.swictation_test_root = root
-- Built-in plugins this suite does not use, to start faster.
for _, name in ipairs({ "netrwPlugin", "gzip", "tarPlugin", "zipPlugin", "tutor_mode_plugin", "2html_plugin", "man" }) do
  vim.g["loaded_" .. name] = 1
end
