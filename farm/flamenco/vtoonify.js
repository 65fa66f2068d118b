// SPDX-License-Identifier: MIT
// VToonify Studio: a Flamenco 3 job type. Copy this file into the `scripts/` folder beside
// flamenco-manager and restart the Manager (docs/FARM.md).
//
// One job = one shot: a `prepare` task analyses the shot once (face, crop, style code ->
// OUTPUT/<stem>.vtoonify.json), then one `render` task per frame chunk, each depending on it, renders
// its frames with the engine's own CLI. Every task runs `ENGINE_PYTHON -m engine ...` through the
// `exec` command on workers that list the task type `vtoonify` in flamenco-worker.yaml.
// Exit codes (docs/FARM.md): 0 done, 2 the job is wrong, 75 retry (GPU memory, disk full), 130 cancelled.

const TASK_TYPE = "vtoonify";

const JOB_TYPE = {
    label: "VToonify Studio",
    description: "Stylize a portrait video or image sequence with VToonify, in frame chunks",
    settings: [
        {
            key: "source", type: "string", subtype: "file_path", required: true,
            eval: "bpy.path.abspath(C.scene.sequence_editor.active_strip.filepath)",
            evalInfo: { showLinkButton: true, description: "The active movie strip's file" },
            description: "Video file, image sequence (shot.####.exr) or image, as the workers see it",
        },
        {
            key: "output", type: "string", subtype: "dir_path", required: true,
            description: "Output folder on shared storage; frames are written as <stem>.####.<ext>",
        },
        {
            key: "frames", type: "string", required: true,
            eval: "f'{C.scene.sequence_editor.active_strip.frame_offset_start + 1:.0f}-"
                + "{C.scene.sequence_editor.active_strip.frame_offset_start"
                + " + C.scene.sequence_editor.active_strip.frame_final_duration:.0f}'",
            evalInfo: { showLinkButton: true, description: "The source frames the active movie strip shows" },
            description: "Source frames to render, e.g. '1-100' or '1-10,20-30' (output frame N = input frame N)",
        },
        {
            key: "chunk_size", type: "int32", default: 10, visible: "submission",
            description: "Frames per render task",
        },
        {
            key: "style", type: "string", default: "cartoon",
            choices: ["cartoon", "caricature", "arcane", "comic", "pixar", "illustration"],
            description: "Style family (its official model files must be in the models folder)",
        },
        {
            key: "style_id", type: "int32", default: 26,
            description: "Exemplar index for VToonify-D",
        },
        {
            key: "degree", type: "float", default: 0.5,
            description: "Structure degree in [0, 1] (VToonify-D)",
        },
        {
            key: "color_transfer", type: "bool", default: false,
            description: "Also take the exemplar's colours",
        },
        {
            key: "format", type: "string", default: "exr", choices: ["exr", "png"],
            description: "EXR (half float, scene-linear, premultiplied) or PNG (sRGB)",
        },
        {
            key: "mattes", type: "bool", default: false,
            description: "Write face-parsing mattes (EXR layers matte.<class>; PNG: grey sequences)",
        },
        {
            key: "cryptomatte", type: "bool", default: false,
            description: "Also write the mattes as Cryptomatte layers (EXR only; needs mattes)",
        },
        {
            key: "faces", type: "string", default: "one", choices: ["one", "all"],
            description: "one: the last face found (the official rule); all: every face of the shot, each its own crop",
        },
        {
            key: "max_faces", type: "int32", default: 8,
            description: "With faces 'all': at most this many faces (each needs its own network in memory)",
        },
        {
            key: "precision", type: "string", default: "fp32", choices: ["fp32", "bf16", "fp16", "auto"],
            description: "Network precision; fp32 or bf16 on a farm. auto resolves per worker, so on a farm "
                + "of mixed CPUs/GPUs a chunk that resolves otherwise than prepare is refused (exit 2)",
        },
        {
            key: "data_window", type: "string", default: "face", choices: ["face", "full"],
            description: "EXR data window: the face box (compositing) or the full frame (Blender's sequencer)",
        },
        {
            key: "models_dir", type: "string", subtype: "dir_path", default: "", visible: "submission",
            description: "Models folder as the workers see it; empty = each worker's $VTOONIFY_MODELS",
        },
        {
            key: "engine_python", type: "string", default: "{vtoonify_python}", visible: "submission",
            description: "Python of the engine's virtual environment on the workers "
                + "(default: the Manager variable vtoonify_python)",
        },
        {
            key: "device", type: "string", default: "auto", choices: ["auto", "cpu", "cuda"],
            description: "auto = CUDA when the worker has a GPU. One job must not mix CPU and GPU workers",
        },
        {
            key: "backend", type: "string", default: "auto", choices: ["auto", "vtoonify", "classic"],
            visible: "submission",
            description: "vtoonify needs the official model files; classic (non-neural) needs none",
        },
    ],
};

function compileJob(job) {
    const settings = job.settings;
    checkSettings(settings);
    print("VToonify job", job.name, ":", settings.source, "->", settings.output, "frames", settings.frames);

    const prepareTask = author.Task("prepare", TASK_TYPE);
    prepareTask.addCommand(engineCommand("prepare", settings, settings.frames, []));
    job.addTask(prepareTask);

    for (const chunk of frameChunker(settings.frames, settings.chunk_size)) {
        const renderTask = author.Task(`render-${chunk}`, TASK_TYPE);
        // --resume: a requeued chunk (exit 75, a lost worker) only renders the frames it has not finished.
        renderTask.addCommand(engineCommand("render", settings, chunk, ["--resume"]));
        renderTask.addDependency(prepareTask);
        job.addTask(renderTask);
    }
}

function checkSettings(settings) {
    for (const key of ["source", "output", "frames", "engine_python"]) {
        if (!settings[key]) {
            throw `setting "${key}" is empty`;
        }
    }
    if (!(settings.chunk_size >= 1)) {
        throw `chunk_size must be 1 or more, not ${settings.chunk_size}`;
    }
    if (settings.cryptomatte && !(settings.mattes && settings.format === "exr")) {
        throw "cryptomatte needs mattes and format exr";
    }
    if (settings.faces === "all" && !(settings.max_faces >= 1 && settings.max_faces <= 32)) {
        throw `max_faces must be 1 to 32, not ${settings.max_faces}`;
    }
}

// `ENGINE_PYTHON -m engine <verb> SOURCE -o OUTPUT --frames FRAMES <settings>`: prepare and render get
// the same settings, so they agree on the job key that guards the output folder.
function engineCommand(verb, settings, frames, extraArgs) {
    const args = ["-m", "engine", verb, settings.source, "-o", settings.output, "--frames", frames]
        .concat(engineSettingArgs(settings), extraArgs);
    return author.Command("exec", { exe: settings.engine_python, args: args });
}

function engineSettingArgs(settings) {
    const args = [
        "--style", settings.style,
        "--style-id", String(settings.style_id),
        "--degree", String(settings.degree),
        "--format", settings.format,
        "--device", settings.device,
        "--backend", settings.backend,
        "--precision", settings.precision || "fp32",
        "--data-window", settings.data_window || "face",
    ];
    if (settings.color_transfer) args.push("--color-transfer");
    if (settings.mattes) args.push("--mattes");
    if (settings.cryptomatte) args.push("--cryptomatte");
    if (settings.faces === "all") args.push("--faces", "all", "--max-faces", String(settings.max_faces));
    if (settings.models_dir) args.push("--models", settings.models_dir);
    return args;
}
