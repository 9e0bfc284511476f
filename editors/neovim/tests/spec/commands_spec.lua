-- Commands, <Plug> mappings, the statusline component and the error paths that need no server.
local t = require("swictation_test")
local it, eq, contains = t.it, t.eq, t.contains

local swictation = require("swictation")
local context = require("swictation.context")
local marks = require("swictation.marks")

local COMMANDS = {
  SwictationStart = "?",
  SwictationStop = "0",
  SwictationToggle = "?",
  SwictationCancel = "0",
  SwictationTranscribe = "1",
  SwictationMode = "?",
  SwictationHistory = "0",
  SwictationUndo = "?",
  SwictationRestart = "0",
  SwictationLog = "0",
}

it("every command exists with its arguments", function()
  local cmds = vim.api.nvim_get_commands({ builtin = false })
  for name, nargs in pairs(COMMANDS) do
    t.truthy(cmds[name], ":" .. name .. " is missing")
    eq(nargs, cmds[name].nargs, name .. " nargs")
  end
  t.truthy(cmds.SwictationTranscribe.range, ":SwictationTranscribe takes a range (replaces the selection)")
end)

it(":SwictationMode completes fast, accurate and auto", function()
  eq({ "accurate", "auto" }, vim.fn.getcompletion("SwictationMode a", "cmdline"))
  eq({ "fast", "accurate", "auto" }, vim.fn.getcompletion("SwictationMode ", "cmdline"))
end)

it("<Plug> mappings exist in Normal, Insert and Visual mode", function()
  local want = {
    ["<Plug>(SwictationToggle)"] = { "n", "i", "x" },
    ["<Plug>(SwictationStart)"] = { "n", "i", "x" },
    ["<Plug>(SwictationStop)"] = { "n", "i" },
    ["<Plug>(SwictationCancel)"] = { "n", "i" },
    ["<Plug>(SwictationTranscribe)"] = { "n", "i", "x" },
    ["<Plug>(SwictationHistory)"] = { "n" },
    ["<Plug>(SwictationUndo)"] = { "n", "i" },
    ["<Plug>(SwictationModeFast)"] = { "n", "i" },
    ["<Plug>(SwictationModeAccurate)"] = { "n", "i" },
    ["<Plug>(SwictationModeAuto)"] = { "n", "i" },
  }
  for lhs, modes in pairs(want) do
    for _, mode in ipairs(modes) do
      local m = vim.fn.maparg(lhs, mode, false, true)
      t.truthy(m.lhs, ("%s missing in mode %s"):format(lhs, mode))
    end
  end
end)

it("no key is mapped for the user", function()
  for _, mode in ipairs({ "n", "i", "x", "v", "o", "c", "t" }) do
    for _, m in ipairs(vim.api.nvim_get_keymap(mode)) do
      local rhs = (m.rhs or "") .. (m.desc or "")
      if rhs:lower():find("swictation") then
        t.truthy(m.lhs:find("^<Plug>"), ("a non-<Plug> mapping %q in mode %s"):format(m.lhs, mode))
      end
    end
  end
end)

it("the statusline component is empty while no server runs", function()
  eq("", swictation.status())
  eq("stopped", require("swictation.status").get().state)
end)

it(":SwictationMode sets the default mode sent to the server; a wrong mode is refused", function()
  swictation.setup({})
  vim.cmd("SwictationMode fast")
  eq("fast", swictation.get_mode())
  eq("fast", require("swictation.config").options.settings.defaultMode)
  local seen, stop = t.capture_notify(vim.log.levels.WARN)
  vim.cmd("SwictationMode slow")
  stop()
  eq(1, #seen)
  contains(seen[1].msg, 'unknown mode "slow"')
  eq("fast", swictation.get_mode())
end)

it("a server that cannot be found gives one clear error and leaves the buffer alone", function()
  swictation.setup({ cmd = { "swictation-rpc-not-installed", "serve", "--stdio" } })
  local bufnr = t.buffer({ "one two three" })
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  local wav = vim.fn.tempname() .. ".wav"
  vim.fn.writefile({ "RIFF" }, wav)
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(2000, function()
    vim.cmd("SwictationTranscribe " .. wav)
  end)
  vim.wait(100) -- anything scheduled would show up now
  stop()
  eq(false, done.ok)
  eq(1, #seen, "exactly one message: " .. vim.inspect(seen))
  eq(vim.log.levels.ERROR, seen[1].level)
  contains(seen[1].msg, "`swictation-rpc-not-installed` is not an executable on $PATH")
  contains(seen[1].msg, "cmd = {")
  eq({ "one two three" }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
  eq({}, vim.api.nvim_buf_get_extmarks(bufnr, marks.ns, 0, -1, {}), "no extmark left behind")
  eq("failed", require("swictation.status").get().state)
  eq("swictation: failed", swictation.status())
end)

it("dictation with a missing server reports once and leaves no session", function()
  swictation.setup({ cmd = { "swictation-rpc-not-installed", "serve", "--stdio" } })
  t.buffer({ "" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(2000, function()
    vim.cmd("SwictationToggle")
  end)
  stop()
  eq(false, done.ok)
  eq(1, #seen)
  eq(false, swictation.is_listening())
end)

it(":SwictationTranscribe with a file that does not exist says so", function()
  swictation.setup({})
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local done = t.wait_done(1000, function()
    vim.cmd("SwictationTranscribe /nonexistent/clip.wav")
  end)
  stop()
  eq(false, done.ok)
  eq(1, #seen)
  contains(seen[1].msg, "cannot read the audio file /nonexistent/clip.wav")
end)

it(":SwictationStop and :SwictationCancel without a session explain instead of failing", function()
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  vim.cmd("SwictationStop")
  vim.cmd("SwictationCancel")
  stop()
  eq(2, #seen)
  contains(seen[1].msg, "not dictating")
end)

it(":SwictationLog opens the log with what happened", function()
  vim.cmd("SwictationLog")
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  eq(
    "swictation://log",
    vim.fn.fnamemodify(vim.api.nvim_buf_get_name(0), ":t") == "log" and "swictation://log"
      or vim.api.nvim_buf_get_name(0)
  )
  contains(table.concat(lines, "\n"), "server command: swictation-rpc serve --stdio")
  contains(table.concat(lines, "\n"), "swictation-rpc-not-installed")
  vim.cmd("close")
end)

it(":checkhealth swictation reports a missing server as an error with the fix", function()
  swictation.setup({ cmd = { "swictation-rpc-not-installed", "serve", "--stdio" } })
  vim.cmd("checkhealth swictation")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  contains(text, "swictation: server")
  contains(text, "ERROR server not found: `swictation-rpc-not-installed` is not an executable on $PATH")
  contains(text, "pipx install swictation-rpc")
  contains(text, "OK Neovim 0.")
end)

it("a server that exits at start is reported once, with what it wrote to stderr", function()
  swictation.setup({ cmd = { "sh", "-c", "echo 'swictation-test: model store unreadable' >&2; exit 3" } })
  t.buffer({ "" })
  local seen, stop = t.capture_notify(vim.log.levels.INFO)
  local wav = vim.fn.tempname() .. ".wav"
  vim.fn.writefile({ "RIFF" }, wav)
  local done = t.wait_done(10000, function()
    vim.cmd("SwictationTranscribe " .. wav)
  end)
  vim.wait(200)
  stop()
  eq(false, done.ok)
  local ours = vim.tbl_filter(function(n)
    return n.msg:find("^swictation:") ~= nil
  end, seen)
  eq(1, #ours, vim.inspect(seen))
  eq(vim.log.levels.ERROR, ours[1].level)
  contains(ours[1].msg, "exited with code 3 before it answered initialize")
  contains(ours[1].msg, "Its last output: swictation-test: model store unreadable")
  eq(1, #seen, "no 'Client swictation quit with exit code' from Neovim too: " .. vim.inspect(seen))
  eq("failed", require("swictation.status").get().state)
  swictation.setup({})
end)

it("the context sent with requests: text around the cursor, languageId, identifiers", function()
  local bufnr = t.buffer({ "def get_user_by_id(user_id):", "    return fetchUser(user_id)", "# tail" }, "python")
  local ctx = context.build(bufnr, 1, 4, 1, 4)
  eq("python", ctx.languageId)
  eq("def get_user_by_id(user_id):\n    ", ctx.before)
  eq("return fetchUser(user_id)\n# tail", ctx.after)
  table.sort(ctx.identifiers)
  eq({ "fetchUser", "get_user_by_id", "user_id" }, ctx.identifiers)
  require("swictation.config").options.context.chars = 10
  ctx = context.build(bufnr, 1, 4, 1, 4)
  eq("_id):\n    ", ctx.before)
  eq(10, vim.fn.strchars(ctx.before))
  eq(10, vim.fn.strchars(ctx.after))
  swictation.setup({})
end)

it("positions are sent in the client's offset encoding", function()
  local bufnr = t.buffer({ "é€𝄞x" })
  local col = #"é€𝄞"
  eq({ line = 0, character = 3 }, context.lsp_position(bufnr, 0, col, "utf-32"))
  eq({ line = 0, character = 4 }, context.lsp_position(bufnr, 0, col, "utf-16"))
  eq({ line = 0, character = col }, context.lsp_position(bufnr, 0, col, "utf-8"))
end)

it("a user mapping to a <Plug> mapping works (the documented set-up)", function()
  swictation.setup({})
  vim.keymap.set("n", "<F7>", "<Plug>(SwictationModeAccurate)")
  local _, stop = t.capture_notify(vim.log.levels.INFO)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<F7>", true, false, true), "x", false)
  stop()
  eq("accurate", swictation.get_mode())
  vim.keymap.del("n", "<F7>")
end)

it(":help swictation: the help file has valid tags and every |link| resolves", function()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir .. "/doc", "p")
  local src = vim.g.swictation_test_root .. "/doc/swictation.txt"
  vim.fn.writefile(vim.fn.readfile(src), dir .. "/doc/swictation.txt")
  vim.cmd("helptags " .. vim.fn.fnameescape(dir .. "/doc")) -- errors on duplicate tags
  local tags = {}
  for _, line in ipairs(vim.fn.readfile(dir .. "/doc/tags")) do
    tags[line:match("^[^\t]+")] = true
  end
  for _, want in ipairs({
    "swictation",
    "swictation-options",
    "swictation-settings",
    ":SwictationTranscribe",
    ":SwictationToggle",
    "swictation-mappings",
    "swictation-health",
    "swictation-statusline",
  }) do
    t.truthy(tags[want] or want == "swictation" and tags["swictation.txt"], "missing tag " .. want)
  end
  local text = table.concat(vim.fn.readfile(src), "\n")
  for link in text:gmatch("|([^|%s]+)|") do
    local known = tags[link] or vim.fn.getcompletion(link, "help")[1] == link
    t.truthy(known, "|" .. link .. "| does not resolve")
  end
  vim.opt.runtimepath:append(dir)
  vim.cmd("help :SwictationTranscribe")
  contains(vim.api.nvim_get_current_line(), "*:SwictationTranscribe*")
  vim.cmd("helpclose")
end)
