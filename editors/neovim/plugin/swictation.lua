-- swictation.nvim: commands, <Plug> mappings and highlight defaults only. No keymaps are set for
-- you and nothing starts until a command runs; see :help swictation.
if vim.g.loaded_swictation == 1 or vim.fn.has("nvim-0.10") ~= 1 then
  return
end
vim.g.loaded_swictation = 1

local function sw()
  return require("swictation")
end

local function modes(arglead)
  return vim.tbl_filter(function(m)
    return vim.startswith(m, arglead)
  end, { "fast", "accurate", "auto" })
end

local function range_of(args)
  return { line1 = args.line1, line2 = args.line2, range = args.range }
end

local commands = {
  SwictationStart = {
    function(a)
      sw().start({ mode = a.args ~= "" and a.args or nil, range = range_of(a) })
    end,
    { nargs = "?", range = true, complete = modes, desc = "Start dictation at the cursor (or over the selection)" },
  },
  SwictationStop = {
    function()
      sw().stop()
    end,
    { desc = "Stop dictation and insert the text" },
  },
  SwictationToggle = {
    function(a)
      sw().toggle({ mode = a.args ~= "" and a.args or nil, range = range_of(a) })
    end,
    { nargs = "?", range = true, complete = modes, desc = "Start or stop dictation" },
  },
  SwictationCancel = {
    function()
      sw().cancel()
    end,
    { desc = "Stop dictation and drop the text" },
  },
  SwictationTranscribe = {
    function(a)
      sw().transcribe(a.args, { range = range_of(a) })
    end,
    { nargs = 1, range = true, complete = "file", desc = "Insert the transcript of an audio file at the cursor" },
  },
  SwictationMode = {
    function(a)
      sw().set_mode(a.args)
    end,
    { nargs = "?", complete = modes, desc = "Show or set the default mode: fast, accurate, auto" },
  },
  SwictationHistory = {
    function()
      sw().history()
    end,
    { desc = "Pick a past utterance: insert, yank, remove, transcribe again" },
  },
  SwictationUndo = {
    function(a)
      sw().undo(a.args ~= "" and a.args or nil)
    end,
    { nargs = "?", desc = "Remove the last (or the given) utterance from its buffer" },
  },
  SwictationCorrect = {
    function(a)
      sw().correct(a.args ~= "" and a.args or nil)
    end,
    { nargs = "?", desc = "Correct that: choose another text for the last (or the given) utterance" },
  },
  SwictationRestart = {
    function()
      sw().restart()
    end,
    { desc = "Restart the swictation-rpc server" },
  },
  SwictationInstall = {
    function(a)
      local sub = a.args
      if sub == "cancel" then
        require("swictation.install").cancel()
      elseif sub == "" or sub == "upgrade" then
        require("swictation.install").install({ force = a.bang, upgrade = sub == "upgrade" })
      else
        vim.notify(
          ("swictation: unknown :SwictationInstall argument %q: use :SwictationInstall, :SwictationInstall upgrade, :SwictationInstall! or :SwictationInstall cancel"):format(
            sub
          ),
          vim.log.levels.ERROR
        )
      end
    end,
    {
      nargs = "?",
      bang = true,
      complete = function(arglead)
        return vim.tbl_filter(function(c)
          return vim.startswith(c, arglead)
        end, { "upgrade", "cancel" })
      end,
      desc = "Install swictation-rpc into a private venv (upgrade: upgrade it; !: from scratch; cancel)",
    },
  },
  SwictationModels = {
    function(a)
      require("swictation.models").command(a.fargs, a.bang)
    end,
    {
      nargs = "*",
      bang = true,
      complete = function(arglead, cmdline)
        return require("swictation.models").complete(arglead, cmdline)
      end,
      desc = "Speech models: list, download NAME, remove NAME, cancel",
    },
  },
  SwictationStatus = {
    function()
      sw().show_status()
    end,
    { desc = "Show the server's state and each mode's model, with what to fix" },
  },
  SwictationLog = {
    function()
      sw().log()
    end,
    { desc = "Show the plugin's and the server's messages" },
  },
}

for name, def in pairs(commands) do
  vim.api.nvim_create_user_command(name, def[1], def[2])
end

-- <Plug> mappings: Normal, Insert and Visual mode (Visual replaces the selection).
local plugs = {
  ["<Plug>(SwictationToggle)"] = { "toggle", "nix" },
  ["<Plug>(SwictationStart)"] = { "start", "nix" },
  ["<Plug>(SwictationStop)"] = { "stop", "ni" },
  ["<Plug>(SwictationCancel)"] = { "cancel", "ni" },
  ["<Plug>(SwictationHistory)"] = { "history", "n" },
  ["<Plug>(SwictationUndo)"] = { "undo", "ni" },
  ["<Plug>(SwictationModeFast)"] = { "set_mode('fast')", "ni" },
  ["<Plug>(SwictationModeAccurate)"] = { "set_mode('accurate')", "ni" },
  ["<Plug>(SwictationModeAuto)"] = { "set_mode('auto')", "ni" },
}
for lhs, def in pairs(plugs) do
  local call = def[1]:find("%(") and def[1] or (def[1] .. "()")
  vim.keymap.set(vim.split(def[2], ""), lhs, '<Cmd>lua require("swictation").' .. call .. "<CR>", {
    silent = true,
    desc = "swictation: " .. def[1],
  })
end
vim.keymap.set({ "n", "i", "x" }, "<Plug>(SwictationTranscribe)", function()
  local mode = vim.api.nvim_get_mode().mode
  local range
  if mode:match("^[vV\22]") then
    -- Leave Visual mode so '< '> are set, and replace the selection.
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<Esc>", true, false, true), "nx", false)
    range = { line1 = vim.fn.line("'<"), line2 = vim.fn.line("'>"), range = 2 }
  end
  vim.ui.input({ prompt = "Audio file: ", completion = "file" }, function(file)
    if file and file ~= "" then
      require("swictation").transcribe(file, { range = range })
    end
  end)
end, { desc = "swictation: transcribe a file" })

local function highlights()
  vim.api.nvim_set_hl(0, "SwictationInterim", { default = true, link = "Comment" })
  vim.api.nvim_set_hl(0, "SwictationSelection", { default = true, link = "Visual" })
end
highlights()
vim.api.nvim_create_autocmd("ColorScheme", {
  group = vim.api.nvim_create_augroup("swictation_highlights", { clear = true }),
  callback = highlights,
})
