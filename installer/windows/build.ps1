# Build Fireside for Windows: the PyInstaller one-folder bundle, then an MSI with WiX v5.
#
#   powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
#
# Needs: a .venv with Fireside installed (Python 3.11+), and the .NET SDK for the `wix` tool
# (installed here as a .NET global tool if missing). Output: dist\fireside\ and
# dist\Fireside-<version>-x64.msi.
#
# CPU portability: the bundle carries whatever llama-cpp-python is in .venv. Build that wheel
# with portable flags, never -march=native, e.g. in the same shell before `pip install`:
#   $env:CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
# GPU (as on Linux; installer/README.md): with the LunarG Vulkan SDK installed (it sets VULKAN_SDK
# and brings glslc and SPIRV-Headers), add backend modules and Vulkan (and CUDA, see the README):
#   $env:CMAKE_ARGS += " -DGGML_BACKEND_DL=ON -DCMAKE_INSTALL_BINDIR=llama_cpp/lib -DGGML_VULKAN=ON"
#   .venv\Scripts\python -m pip install --no-binary llama-cpp-python --no-cache-dir llama-cpp-python==0.3.36
# With the modules, -DGGML_CPU_ALL_VARIANTS=ON builds the CPU backend once per x86-64 level (as on
# Linux; with MSVC 9 of the 14: no ivybridge, piledriver, cooperlake, zen4 or sapphirerapids)
# and ggml loads the best one the user's CPU runs (not built on Windows here).
param(
    [string]$Python = ".venv\Scripts\python.exe",
    [string]$WixVersion = "5.0.2"
)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

function Invoke-Checked([string]$What, [scriptblock]$Command) {
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit code $LASTEXITCODE)." }
}

if (-not (Test-Path $Python)) {
    throw "No $Python here. Create .venv and install Fireside first: py -3.11 -m venv .venv; .venv\Scripts\python -m pip install -e ."
}
Invoke-Checked "Installing the packaging tools" { & $Python -m pip install --quiet -e ".[package]" }

$version = (& $Python -c "import sys; sys.path.insert(0, 'app'); import fireside; print(fireside.__version__)").Trim()
Write-Host "==> Fireside $version"

Invoke-Checked "Rendering icons" { & $Python installer\render_icons.py build\icons }
Invoke-Checked "PyInstaller" {
    & $Python -m PyInstaller --noconfirm --clean --log-level WARN `
        --distpath dist --workpath build\pyinstaller installer\fireside.spec
}
# A bundle that cannot start must not become an installer.
Invoke-Checked "Starting the bundle" { & dist\fireside\fireside.exe --version }

if (-not (Get-Command wix -ErrorAction SilentlyContinue)) {
    Invoke-Checked "Installing WiX $WixVersion" { dotnet tool install --global wix --version $WixVersion }
    $env:PATH += ";$env:USERPROFILE\.dotnet\tools"
}
$msi = "dist\Fireside-$version-x64.msi"
Invoke-Checked "wix build" {
    wix build -arch x64 -b "Bundle=dist\fireside" -d "Version=$version" `
        -d "IconFile=build\icons\fireside.ico" installer\windows\Fireside.wxs -o $msi
}
Write-Host "==> $msi"
Write-Host "Silent install: msiexec /i $msi /qn POLICYFILE=\\server\fireside\policy.json MODELDIR=D:\Models"
