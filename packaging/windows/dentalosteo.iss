; Inno Setup 6 script for DentalOsteo (Windows x64).
;
; Input : dist\DentalOsteo\  = the PyInstaller one-folder bundle from packaging\dentalosteo.spec
;         (DentalOsteo.exe windowed app, dentalosteo-cli.exe console CLI, _internal\)
; Output: dist\DentalOsteo-<version>-setup.exe
;
; Build on Windows (see .github/workflows/windows-installer.yml):
;   iscc /DAppVersion=0.1.0 packaging\windows\dentalosteo.iss
; It cannot be built on our Linux machines (Inno Setup is Windows-only); see packaging/README.md.
;
; The executable names, icon and file types here must match packaging/dentalosteo.spec.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "DentalOsteo"
#define AppExe "DentalOsteo.exe"
#define CliExe "dentalosteo-cli.exe"
#define ProgId "DentalOsteo.Radiograph"
#define BundleDir "..\..\dist\DentalOsteo"

[Setup]
; AppId identifies the product for upgrades/uninstall: never change it.
AppId={{E996FEB0-4471-4C0D-9680-E04EA18B8AC5}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=DentalOsteo
AppComments=Osteoporosis screening aid for dental panoramic radiographs. A referral aid, not a diagnosis.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; per-machine by default (needs admin); the user may choose a per-user install instead
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\dentalosteo.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
ChangesAssociations=yes
CloseApplications=yes
; the bundle is ~1 GB unpacked; the installer itself stays well under Inno's 2 GB limit

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"
Name: "assocdicom"; Description: "Open DICOM files (.dcm) with {#AppName}"; GroupDescription: "File associations:"
Name: "associmages"; Description: "Offer {#AppName} in ""Open with"" for PNG, JPEG, TIFF and BMP images"; GroupDescription: "File associations:"

[InstallDelete]
; an upgrade replaces the whole bundle (stale libraries from an older TensorFlow must not linger)
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Osteoporosis screening aid (not a diagnosis)"
Name: "{autoprograms}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k ""cd /d ""{app}"" && {#CliExe} --help"""; WorkingDir: "{app}"; Comment: "dentalosteo command line"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; ProgID: how Windows opens a radiograph with DentalOsteo
Root: HKA; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "Radiograph ({#AppName})"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKA; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; Applications\DentalOsteo.exe: "Open with" list entry and the types it supports
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".dcm"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".png"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".jpg"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".jpeg"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".tif"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".tiff"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".bmp"; ValueData: ""
; .dcm: DentalOsteo becomes the default handler (task assocdicom); the value is removed on uninstall
Root: HKA; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: ""; ValueData: "{#ProgId}"; Flags: uninsdeletevalue; Tasks: assocdicom
Root: HKA; Subkey: "Software\Classes\.dcm"; ValueType: string; ValueName: "Content Type"; ValueData: "application/dicom"; Flags: createvalueifdoesntexist; Tasks: assocdicom
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocdicom
; common image types: only added to "Open with" (the clinic's default image viewer is left alone)
Root: HKA; Subkey: "Software\Classes\.png\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associmages
Root: HKA; Subkey: "Software\Classes\.jpg\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associmages
Root: HKA; Subkey: "Software\Classes\.jpeg\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associmages
Root: HKA; Subkey: "Software\Classes\.tif\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associmages
Root: HKA; Subkey: "Software\Classes\.tiff\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associmages
Root: HKA; Subkey: "Software\Classes\.bmp\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associmages

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; byte-code caches written next to the bundle at run time; user data (history, settings,
; logs in %LOCALAPPDATA%\DentalOsteo) is deliberately kept
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
