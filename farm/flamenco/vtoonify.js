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
            key: "backbone", type: "string", default: "auto", choices: ["auto", "dualstylegan", "toonify"],
            description: "VToonify-D (dualstylegan: exemplar, degree, colours) or VToonify-T (toonify); auto = D if present",
        },
        {
            key: "exstyle_image", type: "string", subtype: "file_path", default: "",
            description: "Portrait image (as the workers see it) encoded with pSp as a custom exemplar; empty = style_id",
        },
        {
            key: "format", type: "string", default: "exr", choices: ["exr", "png"],
            description: "EXR (half float, scene-linear, premultiplied) or PNG (sRGB)",
        },
        {
            key: "exr_compression", type: "string", default: "zip", choices: ["zip", "dwaa", "piz", "none"],
            description: "EXR compression",
        },
        {
            key: "png_bits", type: "int32", default: 8,
            description: "PNG bit depth: 8 or 16",
        },
        {
            key: "mattes", type: "bool", default: false,
            description: "Write face-parsing mattes (EXR layers matte.<class>; PNG: grey sequences)",
        },
        {
            key: "matte_files", type: "bool", default: false,
            description: "Also write each matte as its own grey sequence <stem>.matte_<class>.####.<ext>",
        },
        {
            key: "matte_layers", type: "bool", default: true,
            description: "EXR: keep the mattes as layers of the beauty file; off (needs matte_files) for "
                + "hosts such as Blender 4.2's sequencer that cannot show multilayer EXRs",
        },
        {
            key: "matte_classes", type: "string", default: "",
            description: "Comma-separated matte classes, e.g. 'skin,hair'; empty = all the backend gives",
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
            key: "follow_faces", type: "bool", default: false,
            description: "Each face's crop follows its face over the shot (found on every frame in prepare); "
                + "off: one fixed crop per face, the official rule",
        },
        {
            key: "output_space", type: "string", default: "plate", choices: ["plate", "crop"],
            description: "plate: over the source frame with alpha; crop: the native 4x face crop (faces 'one' only)",
        },
        {
            key: "data_window", type: "string", default: "face", choices: ["face", "full"],
            description: "EXR data window: the face box (compositing) or the full frame (Blender's sequencer)",
        },
        {
            key: "scale", type: "float", default: 1.0,
            description: "Output resolution multiplier, 0.05 to 8",
        },
        {
            key: "padding", type: "string", default: "200,200,200,200",
            description: "Crop padding around the eyes: left,right,top,bottom (or one number for all four)",
        },
        {
            key: "smooth_parsing", type: "bool", default: false,
            description: "Temporally smooth the parsing maps with optical flow",
        },
        {
            key: "orientation", type: "string", default: "display", choices: ["display", "stored"],
            description: "Videos: display = turned by the file's rotation as players show it; stored = as "
                + "coded, for hosts that ignore the rotation (Blender 4.2's sequencer)",
        },
        {
            key: "start_number", type: "int32", default: 1,
            description: "Number of a video's first frame (image sequences keep their numbers)",
        },
        {
            key: "output_name", type: "string", default: "",
            description: "Output file stem (<stem>.####.<ext>); empty = the source's",
        },
        {
            key: "precision", type: "string", default: "fp32", choices: ["fp32", "bf16", "fp16", "auto"],
            description: "Network precision; fp32 or bf16 on a farm. auto resolves per worker, so on a farm "
                + "of mixed CPUs/GPUs a chunk that resolves otherwise than prepare is refused (exit 2)",
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
        {
            key: "batch", type: "int32", default: 0, visible: "submission",
            description: "Frames per forward pass, 0 = automatic; lower it if GPU workers run out of memory (exit 75)",
        },
        {
            key: "compile", type: "string", default: "off", choices: ["auto", "on", "off"], visible: "submission",
            description: "torch.compile the network once per task (same pixels; auto = on CPU for long chunks)",
        },
    ],
};

function compileJob(job) {
    const settings = job.settings;
    checkSettings(settings);
    print("VToonify job", job.name, ":", settings.source, "->", settings.output, "frames", settings.frames);

    // frameChunker also reads Blender's "1..10", which the engine's --frames does not: prepare gets the
    // whole frame list as frameChunker writes it (one chunk holding every frame), so it analyses exactly
    // the frames the chunks render, in "a-b,c" notation.
    const chunks = frameChunker(settings.frames, settings.chunk_size);
    const allFrames = frameChunker(settings.frames, chunks.length * settings.chunk_size)[0];

    const prepareTask = author.Task("prepare", TASK_TYPE);
    prepareTask.addCommand(engineCommand("prepare", settings, allFrames, []));
    job.addTask(prepareTask);

    for (const chunk of chunks) {
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
    if (settings.cryptomatte && settings.exr_compression === "dwaa") {
        throw "cryptomatte needs lossless EXR compression: dwaa rounds its id channels, use zip or piz";
    }
    if (settings.faces === "all" && !(settings.max_faces >= 1 && settings.max_faces <= 32)) {
        throw `max_faces must be 1 to 32, not ${settings.max_faces}`;
    }
    if (settings.follow_faces && settings.smooth_parsing && settings.backend !== "classic") {
        // classic parses no faces and ignores smooth_parsing (with a warning), as the engine does
        throw "smooth_parsing warps parsing maps within one fixed crop: turn it off with follow_faces "
            + "(backend classic ignores it)";
    }
    if (settings.faces === "all" && settings.output_space !== "plate") {
        throw "faces 'all' places every face over the plate: use output_space plate";
    }
    if (settings.mattes && settings.format === "exr" && !settings.matte_layers && !settings.matte_files) {
        throw "matte_layers off needs matte_files (the EXR mattes would go nowhere)";
    }
    if (![8, 16].includes(settings.png_bits)) {
        throw `png_bits must be 8 or 16, not ${settings.png_bits}`;
    }
    if (!(settings.scale >= 0.05 && settings.scale <= 8)) {
        throw `scale must be 0.05 to 8, not ${settings.scale}`;
    }
    if (!/^\s*\d+(\s*,\s*\d+){3}\s*$|^\s*\d+\s*$/.test(settings.padding)) {
        throw `padding must be one number or four (left,right,top,bottom), not "${settings.padding}"`;
    }
    if (!(settings.batch >= 0 && settings.batch <= 64)) {
        throw `batch must be 0 (automatic) to 64, not ${settings.batch}`;
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
        "--backbone", settings.backbone,
        "--exr-compression", settings.exr_compression,
        "--png-bits", String(settings.png_bits),
        "--output-space", settings.output_space,
        "--scale", String(settings.scale),
        "--padding", settings.padding.replace(/\s+/g, ""),
        "--orientation", settings.orientation,
        "--start-number", String(settings.start_number),
        "--batch", String(settings.batch),
        "--compile", settings.compile,
    ];
    if (settings.color_transfer) args.push("--color-transfer");
    if (settings.exstyle_image) args.push("--exstyle-image", settings.exstyle_image);
    if (settings.mattes) args.push("--mattes");
    if (settings.matte_files) args.push("--matte-files");
    if (!settings.matte_layers) args.push("--no-matte-layers");
    if (settings.matte_classes) args.push("--matte-classes", settings.matte_classes);
    if (settings.cryptomatte) args.push("--cryptomatte");
    if (settings.faces === "all") args.push("--faces", "all", "--max-faces", String(settings.max_faces));
    if (settings.smooth_parsing) args.push("--smooth-parsing");
    if (settings.follow_faces) args.push("--follow-faces");
    if (settings.output_name) args.push("--name", settings.output_name);
    if (settings.models_dir) args.push("--models", settings.models_dir);
    return args;
}
